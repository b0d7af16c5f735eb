"""The pages over a stored history, on SQLite and PostgreSQL: what they show,
forms that change things only for a signed-in person with the form's CSRF
token, and hostile feed text shown as text."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import Article, Delivery, DeliveryState, Feed, Feedback, Match, utcnow
from tests.support.corpus import TOPICS, Corpus
from tests.web.conftest import TOKEN, MakeClient, csrf_of, sign_in

ARTICLE_LINK = re.compile(r'href="/articles/(\d+)"')
OLDER = re.compile(r'<a href="([^"]+)" rel="next">')


def newest_article(session_factory: sessionmaker[Session], topic: str | None = None) -> Match:
    with session_factory() as session:
        query = select(Match).order_by(Match.created_at.desc())
        if topic:
            query = query.where(Match.topic_id == topic)
        return session.scalars(query.limit(1)).one()


def test_matches_pages_chain_through_every_match(make_client: MakeClient, corpus: Corpus) -> None:
    client = make_client()
    seen: list[str] = []
    path: str | None = "/matches"
    pages = 0
    while path:
        page = client.get(path.replace("&amp;", "&"))
        assert page.status_code == 200
        seen += ARTICLE_LINK.findall(page.text)
        found = OLDER.search(page.text)
        path = found.group(1) if found else None
        pages += 1
    assert pages == 3 and len(seen) == len(set(seen)) == 120
    first = client.get("/matches").text
    assert 'rel="prev"' not in first and "Matches per topic per day" in first


def test_topic_filter_and_daily_counts(
    make_client: MakeClient, corpus: Corpus, session_factory: sessionmaker[Session]
) -> None:
    client = make_client()
    topic = TOPICS[2]
    page = client.get("/matches", params={"topic": topic, "since": "30d"}).text
    with session_factory() as session:
        expected = {
            str(a)
            for a in session.scalars(
                select(Match.article_id)
                .where(Match.topic_id == topic)
                .order_by(Match.created_at.desc())
                .limit(50)
            )
        }
        count = len(session.scalars(select(Match.id).where(Match.topic_id == topic)).all())
    assert set(ARTICLE_LINK.findall(page)) == expected
    assert f'<option value="{topic}" selected>' in page
    # The per-day table's total holds the topic's count over the window.
    assert f'<td class="sum">{count}</td>' in page
    bad = client.get("/matches", params={"since": "whenever"})
    assert bad.status_code == 422 and "since:" in bad.text


def test_article_page_shows_reasons_and_asks_to_sign_in(
    make_client: MakeClient, corpus: Corpus, session_factory: sessionmaker[Session]
) -> None:
    client = make_client()
    match = newest_article(session_factory)
    page = client.get(f"/articles/{match.article_id}").text
    assert match.evidence["reason"].split(":")[0] in page
    assert match.evidence["nearest_passage"]["seed"] in page
    assert match.model_version in page
    assert "Not relevant" not in page and "Sign in</a> to say" in page
    sign_in(client)
    page = client.get(f"/articles/{match.article_id}").text
    assert page.count(">Not relevant</button>") == len(TOPICS)
    assert client.get("/articles/999999").status_code == 404


def test_feedback_form_needs_sign_in_and_its_csrf_token(
    make_client: MakeClient, corpus: Corpus, session_factory: sessionmaker[Session]
) -> None:
    client = make_client()
    match = newest_article(session_factory)
    path = f"/articles/{match.article_id}"
    form = {"topic": match.topic_id, "relevant": "no"}

    def stored() -> list[bool]:
        with session_factory() as session:
            query = select(Feedback.relevant).where(
                Feedback.article_id == match.article_id, Feedback.topic_id == match.topic_id
            )
            return list(session.scalars(query))

    before = stored()
    anonymous = client.post(f"{path}/feedback", data={**form, "csrf": csrf_of(client, "/login")})
    assert anonymous.status_code == 401
    sign_in(client)
    assert client.post(f"{path}/feedback", data=form).status_code == 422  # no token at all
    forged = client.post(f"{path}/feedback", data={**form, "csrf": "0" * 64})
    assert forged.status_code == 403 and "another site" in forged.text
    other = TestClient(client.app, follow_redirects=False)  # another browser's token is not this one's
    sign_in(other)
    stolen = client.post(f"{path}/feedback", data={**form, "csrf": csrf_of(other, path)})
    assert stolen.status_code == 403
    assert stored() == before
    done = client.post(f"{path}/feedback", data={**form, "csrf": csrf_of(client, path)})
    assert done.status_code == 303 and done.headers["location"].startswith(path)
    assert stored() == [False]
    page = client.get(done.headers["location"]).text
    assert "Marked <strong>not relevant</strong> — saved" in page


def test_sign_in_sets_a_protected_cookie_and_refuses_bad_tokens(make_client: MakeClient) -> None:
    client = make_client()
    csrf = csrf_of(client, "/login")
    wrong = client.post("/login", data={"csrf": csrf, "token": "not-the-token-000000", "next": "/feeds"})
    assert wrong.status_code == 401
    assert "not-the-token" not in wrong.text and "was not accepted" in wrong.text
    right = client.post("/login", data={"csrf": csrf, "token": TOKEN, "next": "//evil.example/x"})
    assert right.status_code == 303 and right.headers["location"] == "/matches"  # never another site
    cookie = right.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=" in cookie
    assert TOKEN not in right.headers["set-cookie"]
    assert "signed in" in client.get("/matches").text
    assert client.post("/login", data={"csrf": "x", "token": TOKEN}).status_code == 403
    out = client.post("/logout", data={"csrf": csrf_of(client, "/matches")})
    assert out.status_code == 303 and "Sign in" in client.get("/matches").text


def test_protected_reads_send_people_to_sign_in(make_client: MakeClient, corpus: Corpus) -> None:
    client = make_client(extra="  protect_reads: true\n")
    response = client.get("/matches", params={"topic": TOPICS[0]})
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [f"/matches?topic={TOPICS[0]}"]
    sign_in(client)
    assert client.get("/matches").status_code == 200
    assert client.get("/feeds").status_code == 200


def test_without_tokens_the_pages_are_read_only(
    make_client: MakeClient, corpus: Corpus, session_factory: sessionmaker[Session]
) -> None:
    client = make_client(tokens=())
    match = newest_article(session_factory)
    page = client.get(f"/articles/{match.article_id}").text
    assert "read-only" in page and "<button" not in page
    refused = client.post(
        f"/articles/{match.article_id}/feedback",
        data={"topic": match.topic_id, "relevant": "yes", "csrf": "x"},
    )
    assert refused.status_code == 403 and "MONITOR_API_TOKEN" in refused.text
    assert "nobody can sign in" in client.get("/login").text


def test_hostile_feed_text_is_shown_as_text(
    make_client: MakeClient, session_factory: sessionmaker[Session]
) -> None:
    now = utcnow()
    with session_factory.begin() as session:
        feed = Feed(url="https://evil.example/rss", name="<b>Evil</b> feed", interval_seconds=60)
        session.add(feed)
        session.flush()
        article = Article(
            feed_id=feed.id,
            item_key="x",
            title='<script>alert("t")</script><img src=x onerror=alert(1)>',
            summary="</p><iframe src=//evil.example>",
            link="javascript:alert(document.cookie)",
            content_hash="0",
            fetched_at=now,
        )
        session.add(article)
        session.flush()
        session.add(
            Match(
                article_id=article.id,
                topic_id=TOPICS[0],
                score=0.9,
                evidence={"reason": "<svg onload=alert(2)>", "terms": ["<i>x</i>"]},
                model_version="m",
                created_at=now,
            )
        )
        article_id = article.id
    client = make_client()
    for path in ("/matches", f"/articles/{article_id}", "/feeds"):
        page = client.get(path)
        text = page.text
        assert "<script>alert" not in text and "<img src=x" not in text and "<svg" not in text, path
        assert "<iframe" not in text and "<b>Evil</b>" not in text and 'href="javascript:' not in text, path
        assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "&lt;script&gt;" in client.get(f"/articles/{article_id}").text


def test_feed_reset_and_delivery_retry_forms(
    make_client: MakeClient, corpus: Corpus, session_factory: sessionmaker[Session]
) -> None:
    client = make_client()
    feed_id = corpus.feed_ids[3]
    with session_factory.begin() as session:
        feed = session.get_one(Feed, feed_id)
        feed.consecutive_errors, feed.last_error = 3, "HTTP 503 Service Unavailable"
        feed.next_check_at = utcnow() + timedelta(hours=2)
        feed.schedule_seconds, feed.schedule_reason = 480, "312 entries in the last week"
        dead = session.scalars(select(Delivery.id).where(Delivery.state == DeliveryState.DEAD)).all()
    page = client.get("/feeds").text
    assert "HTTP 503 Service Unavailable" in page and "Reset</button>" not in page
    # The interval in force and why (adaptive polling), as `monitor feeds` says it.
    assert "every 8m: 312 entries in the last week" in page
    # Polled before the schedule was recorded (an upgraded database): the configured interval.
    assert "configured interval" in page and "not polled yet" not in page
    sign_in(client)
    csrf = csrf_of(client, "/feeds")
    assert client.post(f"/feeds/{feed_id}/reset").status_code == 422
    reset = client.post(f"/feeds/{feed_id}/reset", data={"csrf": csrf})
    assert reset.status_code == 303 and f"Feed {feed_id} reset" in client.get(reset.headers["location"]).text
    with session_factory() as session:
        assert session.get_one(Feed, feed_id).consecutive_errors == 0
    dead_page = client.get("/deliveries", params={"state": "dead"}).text
    assert dead_page.count(">Retry</button>") == len(dead) > 0
    retried = client.post(f"/deliveries/{dead[0]}/retry", data={"csrf": csrf})
    assert retried.status_code == 303
    assert "1 dead delivery put back" in client.get(retried.headers["location"]).text
    with session_factory() as session:
        assert session.get_one(Delivery, dead[0]).state == DeliveryState.PENDING


def test_every_page_answers_and_names_only_our_assets(make_client: MakeClient, corpus: Corpus) -> None:
    client = make_client()
    sign_in(client)
    article = corpus.article_ids[-1]
    for path in (
        "/",
        "/matches",
        f"/articles/{article}",
        "/topics",
        f"/topics/{TOPICS[0]}",
        "/feeds",
        "/deliveries",
        "/login",
        "/api/docs",
    ):
        response = client.get(path, follow_redirects=True)
        assert response.status_code == 200, path
        for url in re.findall(r'(?:src|href)="([^"#]+)"', response.text):
            assert (url.startswith("/") and not url.startswith("//")) or url.startswith(
                "https://news.example/"
            ), (path, url)
