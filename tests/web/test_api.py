"""The versioned API over a stored history, on SQLite and PostgreSQL:
pages that chain, filters, unknown parameters refused, writes that need a
token and change the database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import Delivery, DeliveryState, Feed, Feedback, utcnow
from monitor.storage.articles import insert_match
from tests.support.corpus import TOPICS, Corpus
from tests.web.conftest import OTHER_TOKEN, TOKEN, MakeClient

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def unjudged_article(session_factory: sessionmaker[Session], corpus: Corpus) -> int:
    with session_factory() as session:
        judged = set(session.scalars(select(Feedback.article_id)))
    return next(a for a in reversed(corpus.article_ids) if a not in judged)


def test_cursor_pages_cover_every_match_once_newest_first(make_client: MakeClient, corpus: Corpus) -> None:
    client = make_client()
    seen: list[dict[str, object]] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/matches", params=params).json()
        pages += 1
        seen.extend(body["matches"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and [len(seen)] == [corpus.matches] == [120]
    assert len({m["match_id"] for m in seen}) == 120
    order = [(m["matched_at"], m["match_id"]) for m in seen]
    assert order == sorted(order, reverse=True)
    assert client.get("/api/v1/matches", params={"limit": 200, "total": True}).json()["total"] == 120


def test_previous_cursor_returns_the_same_page_and_new_matches_do_not_shift_pages(
    make_client: MakeClient, corpus: Corpus, session_factory: sessionmaker[Session]
) -> None:
    client = make_client()
    first = client.get("/api/v1/matches", params={"limit": 40}).json()
    assert first["prev_cursor"] is None
    second = client.get("/api/v1/matches", params={"limit": 40, "cursor": first["next_cursor"]}).json()
    # A new match arrives while the reader is on page 2.
    with session_factory.begin() as session:
        insert_match(
            session,
            corpus.article_ids[0],
            "brand-new",
            score=0.9,
            evidence={},
            model_version="m",
            at=utcnow(),
        )
    third = client.get("/api/v1/matches", params={"limit": 40, "cursor": second["next_cursor"]}).json()
    back = client.get("/api/v1/matches", params={"limit": 40, "cursor": second["prev_cursor"]}).json()
    ids = lambda page: [m["match_id"] for m in page["matches"]]  # noqa: E731
    assert ids(back) == ids(first)
    assert not set(ids(third)) & (set(ids(first)) | set(ids(second)))
    assert len(ids(first) + ids(second) + ids(third)) == 120
    # From the first page of old, "previous" now holds the one new match.
    newest = client.get("/api/v1/matches", params={"limit": 40, "cursor": back["prev_cursor"]}).json()
    assert [m["topic"] for m in newest["matches"]] == ["brand-new"]


def test_filters_narrow_the_pages(make_client: MakeClient, corpus: Corpus) -> None:
    client = make_client()
    every = client.get("/api/v1/matches", params={"limit": 500}).json()["matches"]
    topic = TOPICS[1]
    only = client.get("/api/v1/matches", params={"limit": 500, "topic": topic}).json()["matches"]
    assert only and len(only) == sum(1 for m in every if m["topic"] == topic)
    french = client.get("/api/v1/matches", params={"limit": 500, "lang": "fr", "min_score": 0.8}).json()
    assert french["count"] == sum(1 for m in every if m["article"]["language"] == "fr" and m["score"] >= 0.8)
    feed = client.get("/api/v1/matches", params={"limit": 500, "feed_id": corpus.feed_ids[2]}).json()
    assert feed["count"] and {m["article"]["feed"]["name"] for m in feed["matches"]} == {
        "The Hollywood Reporter"
    }
    daily = client.get("/api/v1/matches/daily", params={"days": 31}).json()
    assert sum(row["matches"] for row in daily["counts"]) == 120


def test_unknown_or_bad_parameters_are_refused(make_client: MakeClient, corpus: Corpus) -> None:
    client = make_client()
    for path, params in [
        ("/api/v1/matches", {"offset": 50}),
        ("/api/v1/matches", {"topics": TOPICS[0]}),
        ("/api/v1/feeds", {"page": 2}),
        ("/api/v1/deliveries", {"status": "dead"}),
        (f"/api/v1/articles/{corpus.article_ids[0]}", {"fields": "title"}),
    ]:
        response = client.get(path, params=params)
        assert response.status_code == 422, (path, response.text)
        (name,) = params
        assert response.json()["detail"][0]["loc"] == ["query", name]
    assert client.get("/api/v1/matches", params={"cursor": "not-a-cursor"}).status_code == 422
    assert client.get("/api/v1/matches", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/matches", params={"since": "soon"}).status_code == 422
    assert client.get("/api/v1/deliveries", params={"state": "lost"}).status_code == 422


def test_writes_need_a_good_bearer_token(
    make_client: MakeClient, corpus: Corpus, session_factory: sessionmaker[Session]
) -> None:
    client = make_client(tokens=(TOKEN, OTHER_TOKEN))
    article = unjudged_article(session_factory, corpus)
    writes = [
        (f"/api/v1/articles/{article}/feedback", {"topic": TOPICS[0], "relevant": False}),
        (f"/api/v1/feeds/{corpus.feed_ids[0]}/reset", None),
        ("/api/v1/deliveries/retry-dead", None),
    ]
    for path, body in writes:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-0123456789"},
            {"Authorization": "Basic eDp5"},
        ):
            response = client.post(path, json=body, headers=headers)
            assert response.status_code == 401, (path, headers, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
    with session_factory() as session:
        assert session.scalars(select(Feedback).where(Feedback.article_id == article)).all() == []
    # Either configured token works; the cookie of a signed-in browser does not.
    done = client.post(
        f"/api/v1/articles/{article}/feedback",
        json={"topic": TOPICS[0], "relevant": False},
        headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
    )
    assert done.json() == {"article_id": article, "topic": TOPICS[0], "relevant": False, "changed": True}
    with session_factory() as session:
        row = session.scalars(select(Feedback).where(Feedback.article_id == article)).one()
        assert (row.topic_id, row.relevant) == (TOPICS[0], False)
    again = client.post(
        f"/api/v1/articles/{article}/feedback", json={"topic": TOPICS[0], "relevant": False}, headers=AUTH
    )
    assert again.json()["changed"] is False
    unknown = client.post(
        f"/api/v1/articles/{article}/feedback", json={"topic": "nope", "relevant": True}, headers=AUTH
    )
    assert unknown.status_code == 422
    missing = client.post(
        "/api/v1/articles/999999/feedback", json={"topic": TOPICS[0], "relevant": True}, headers=AUTH
    )
    assert missing.status_code == 404


def test_without_any_token_writes_are_off(make_client: MakeClient, corpus: Corpus) -> None:
    client = make_client(tokens=())
    response = client.post(f"/api/v1/feeds/{corpus.feed_ids[0]}/reset", headers=AUTH)
    assert response.status_code == 403
    assert "MONITOR_API_TOKEN" in response.json()["detail"]
    assert client.get("/api/v1/feeds").status_code == 200  # reads stay open


def test_protected_reads_need_the_token(make_client: MakeClient, corpus: Corpus) -> None:
    client = make_client(extra="  protect_reads: true\n")
    for path in ("/api/v1/matches", "/api/v1/feeds", "/api/v1/topics", "/metrics"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=AUTH).status_code == 200, path
    assert client.get("/health").status_code == 200  # probes need no token


def test_feed_reset_and_delivery_retry(
    make_client: MakeClient, corpus: Corpus, session_factory: sessionmaker[Session]
) -> None:
    client = make_client()
    feed_id = corpus.feed_ids[0]
    with session_factory.begin() as session:
        feed = session.get_one(Feed, feed_id)
        feed.consecutive_errors, feed.next_check_at = 4, utcnow() + timedelta(hours=3)
        dead = session.scalars(select(Delivery).where(Delivery.state == DeliveryState.DEAD)).all()
        sent = session.scalars(select(Delivery).where(Delivery.state == DeliveryState.SENT).limit(1)).one()
        dead_ids, sent_id = [d.id for d in dead], sent.id
    assert dead_ids  # the corpus has some
    assert client.post(f"/api/v1/feeds/{feed_id}/reset", headers=AUTH).json() == {
        "feed_id": feed_id,
        "reset": True,
    }
    assert client.post("/api/v1/feeds/999999/reset", headers=AUTH).status_code == 404
    listed = {f["id"]: f for f in client.get("/api/v1/feeds").json()}
    assert listed[feed_id]["consecutive_errors"] == 0
    assert client.post(f"/api/v1/deliveries/{sent_id}/retry", headers=AUTH).status_code == 409
    assert client.post(f"/api/v1/deliveries/{dead_ids[0]}/retry", headers=AUTH).json()["retried"] is True
    rest = client.post("/api/v1/deliveries/retry-dead", headers=AUTH).json()
    assert rest == {"retried": len(dead_ids) - 1}
    body = client.get("/api/v1/deliveries", params={"state": "dead"}).json()
    assert body["counts"]["dead"] == 0 and body["deliveries"] == []


def test_deliveries_page_by_cursor(make_client: MakeClient, corpus: Corpus) -> None:
    client = make_client()
    first = client.get("/api/v1/deliveries", params={"limit": 70}).json()
    second = client.get("/api/v1/deliveries", params={"limit": 70, "cursor": first["next_cursor"]}).json()
    ids = [d["id"] for d in first["deliveries"] + second["deliveries"]]
    assert len(ids) == len(set(ids)) == 120 and second["next_cursor"] is None
    assert ids == sorted(ids, reverse=True)
    assert sum(first["counts"].values()) == 120


def test_article_and_topics(make_client: MakeClient, corpus: Corpus) -> None:
    client = make_client()
    match = client.get("/api/v1/matches", params={"limit": 1}).json()["matches"][0]
    article = client.get(f"/api/v1/articles/{match['article']['id']}").json()
    assert article["matches"][0]["evidence"]["nearest_passage"]["seed"].endswith(".txt")
    assert article["matches"][0]["deliveries"][0]["channel"] == "newsroom"
    assert client.get("/api/v1/articles/999999").status_code == 404
    topics = {t["id"]: t for t in client.get("/api/v1/topics").json()}
    assert set(topics) == set(TOPICS)
    assert sum(t["matches_last_30_days"] for t in topics.values()) == 120
    one = client.get(f"/api/v1/topics/{TOPICS[0]}").json()
    assert sum(day["matches"] for day in one["daily"]) == topics[TOPICS[0]]["matches_last_30_days"]
    assert one["learned"] is None  # these topics are keyword rules: nothing learned to show
    # A learned topic shows what was learned, per language, as `monitor topics show --json` does.
    learned = make_client(model="learned").get(f"/api/v1/topics/{TOPICS[0]}").json()["learned"]
    assert set(learned["gate"]) == {"en", "fr"} and all(learned["evidence"].values())
    assert learned["model_version"].startswith("tm-") and learned["seeds"]
    assert client.get("/api/v1/topics/nope").status_code == 404


def test_openapi_lists_the_versioned_endpoints(make_client: MakeClient) -> None:
    schema = make_client().get("/api/v1/openapi.json").json()
    paths = set(schema["paths"])
    assert {
        "/api/v1/matches",
        "/api/v1/articles/{article_id}/feedback",
        "/api/v1/deliveries/{delivery_id}/retry",
    } <= paths
    assert not {"/matches", "/login"} & paths  # the pages are not API
