from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.matching import ArticleText, build_matcher
from monitor.matching.artifact import write_artifact
from monitor.matching.backtest import backtest
from monitor.matching.evaluate import Record, evaluate, read_records
from monitor.matching.feedback import load_feedback, record_feedback
from monitor.matching.inputs import load_curated
from monitor.matching.learn import learn
from monitor.storage import Article, Feed, Feedback, Match, transaction, utcnow
from tests.conftest import REPO_ROOT
from tests.matching.conftest import SEEDS, SHIPPED_TOPICS, shipped_settings


def _article(
    session: Session,
    title: str,
    summary: str,
    *,
    age: timedelta = timedelta(hours=1),
    published_age: timedelta | None = None,
) -> int:
    """An article fetched ``age`` ago, published ``published_age`` (default: ``age``) ago."""
    feed = session.execute(select(Feed)).scalars().first()
    if feed is None:
        feed = Feed(url="https://example.org/feed", name="Example", interval_seconds=60)
        session.add(feed)
        session.flush()
    article = Article(
        feed_id=feed.id,
        item_key=f"{title}-{summary}"[:500],
        title=title,
        summary=summary,
        content_hash="x" * 64,
        fetched_at=utcnow() - age,
        published_at=utcnow() - (published_age or age),
    )
    session.add(article)
    session.flush()
    return article.id


def test_feedback_is_an_upsert(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        article_id = _article(session, "Title", "Summary")
        assert record_feedback(session, article_id, "ai-likeness", True)
    with transaction(session_factory) as session:
        assert not record_feedback(session, article_id, "ai-likeness", True)
        assert record_feedback(session, article_id, "ai-likeness", False)
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(Feedback)).scalar_one() == 1
        (example,) = load_feedback(session)
    assert (example.article_id, example.topic_id, example.relevant) == (article_id, "ai-likeness", False)
    assert example.text == "Title. Summary"


def test_false_positive_marked_not_relevant_stops_matching(
    session_factory: sessionmaker[Session],
    dev_records: list[Record],
    tmp_path: Path,
) -> None:
    settings = shipped_settings(tmp_path)
    before_matcher = build_matcher(settings)
    pool = [*dev_records, *read_records(REPO_ROOT / "eval" / "heldout.jsonl")]
    before = evaluate(before_matcher, pool, SHIPPED_TOPICS)
    # The first false positive of the shipped model, whatever it is.
    records = [r for r in pool if not r.borderline]
    rows = before_matcher.classify([ArticleText(r.title, r.summary, r.lang) for r in records])
    record, topic = next(
        (r, d.topic_id)
        for r, row in zip(records, rows, strict=True)
        for d in row
        if d.matched and d.topic_id not in r.labels
    )
    with transaction(session_factory) as session:
        article_id = _article(session, record.title, record.summary)
        record_feedback(session, article_id, topic, relevant=False)
    with session_factory() as session:
        feedback = load_feedback(session)

    curated = load_curated(SEEDS / "lexicon.yaml", SEEDS / "examples.yaml")
    data = learn(settings.topics, settings.resolve_path, curated=curated, feedback=feedback)
    write_artifact(data, Path(settings.model_path))
    assert data["inputs"]["feedback"] == 1
    after_matcher = build_matcher(settings)
    assert after_matcher.version != before_matcher.version

    (row,) = after_matcher.classify([ArticleText(record.title, record.summary, record.lang)])
    decision = next(d for d in row if d.topic_id == topic)
    assert not decision.matched

    after = evaluate(after_matcher, pool, SHIPPED_TOPICS)
    assert after["topics"][topic]["fp"] < before["topics"][topic]["fp"]
    for other in SHIPPED_TOPICS:
        if other != topic:
            assert after["topics"][other]["f1"] >= before["topics"][other]["f1"]


def test_backtest_reports_new_and_gone_matches(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = shipped_settings(tmp_path)
    topic = "strike-negotiations"
    with transaction(session_factory) as session:
        kept = _article(session, "SAG-AFTRA strike", "Actors' union strikes against the Hollywood studios.")
        gone = _article(session, "Football", "The home team won the cup final on penalties.")
        # Fetched today with a publication date two months old: in the window.
        new = _article(
            session,
            "Grève à Hollywood",
            "Le syndicat des acteurs rejette l'offre des studios.",
            published_age=timedelta(days=60),
        )
        _article(session, "Old strike", "Actors strike against the studios.", age=timedelta(days=90))
        for article_id in (kept, gone):
            session.add(
                Match(article_id=article_id, topic_id=topic, score=0.9, evidence={}, model_version="old")
            )
    with session_factory() as session:
        result = backtest(session, build_matcher(settings), topic, timedelta(days=30))
    assert result.scanned == 3
    assert [r.article_id for r in result.new] == [new]
    assert [r.article_id for r in result.gone] == [gone]
    assert result.kept == 1
    with session_factory() as session:  # read-only: nothing was written
        assert session.execute(select(func.count()).select_from(Match)).scalar_one() == 2
