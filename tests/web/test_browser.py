"""The pages in a real headless Chromium (Debian's /usr/bin/chromium, driven
by Playwright; `make test` installs it), against `monitor serve` running as
its own process over a stored history.

A person signs in, filters the matches by topic, opens an article, clicks
"Not relevant", and the judgement is in the database; another pages through
250 matches; no page asks anything of a host but ours. Each page is saved
as a screenshot in docs/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import Feed, Feedback, create_db_engine, make_session_factory, utcnow
from monitor.storage.migrate import upgrade
from tests.support.corpus import TOPIC_NAMES, TOPICS, fill
from tests.support.databases import drop_schema
from tests.support.processes import monitor_serve
from tests.web.conftest import TOKEN, config_text, screenshots_dir

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 60_000  # generous: the machine is shared


@dataclass
class Served:
    base: str
    factory: sessionmaker[Session]


@contextmanager
def serving(database_url: str, workdir: Path, *, matches: int, days: float) -> Iterator[Served]:
    """A migrated database with ``matches`` matches, served by `monitor serve`."""
    drop_schema(database_url)
    upgrade(database_url)
    engine = create_db_engine(database_url)
    factory = make_session_factory(engine)
    corpus = fill(factory, matches=matches, days=days)
    with factory.begin() as session:  # one feed in trouble, for the Feeds page
        session.execute(
            update(Feed)
            .where(Feed.id == corpus.feed_ids[5])
            .values(
                consecutive_errors=3,
                last_error="HTTP 503 Service Unavailable (next try in 4 min)",
                next_check_at=utcnow() + timedelta(minutes=4),
                last_new_article_at=utcnow() - timedelta(days=9),
            )
        )
    config = workdir / "monitor.yaml"
    config.write_text(config_text(database_url, tokens=(), model="learned"), encoding="utf-8")
    environment = {"MONITOR_API_TOKEN": TOKEN, "MONITOR_EMBED_THREADS": "1"}
    try:
        with monitor_serve(config, workdir / "serve.log", extra_env=environment) as base:
            yield Served(base, factory)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """250 matches over 90 days on SQLite, served for the module's tests."""
    workdir = tmp_path_factory.mktemp("served")
    with serving(f"sqlite:///{workdir}/monitor.sqlite3", workdir, matches=250, days=90) as served:
        yield served


@contextmanager
def page_of(browser: Any, base: str) -> Iterator[tuple[Any, list[str]]]:
    """A fresh browser context's page, and every URL it requests."""
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    try:
        yield context.new_page(), requested
    finally:
        context.close()


def sign_in(page: Any) -> None:
    page.goto("/login?next=/matches")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url("**/matches")


def shoot(page: Any, name: str, *, full_page: bool = True) -> None:
    directory = screenshots_dir()
    directory.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(directory / f"{name}.png"), full_page=full_page)


def test_filter_open_an_article_and_say_not_relevant(browser: Any, db_url: str, tmp_path: Path) -> None:
    topic = TOPICS[1]
    with (
        serving(db_url, tmp_path, matches=120, days=30) as served,
        page_of(browser, served.base) as (page, _),
    ):
        sign_in(page)
        page.select_option("select[name=topic]", topic)
        page.click("form.filters button[type=submit]")
        page.wait_for_url(f"**/matches?*topic={topic}*")
        shown = page.locator("table.matches .topic").all_inner_texts()
        assert shown and set(shown) == {TOPIC_NAMES[topic]}
        if db_url.startswith("sqlite"):
            shoot(page, "matches", full_page=False)
        first = page.locator("table.matches a.title").first
        article_id = int(first.get_attribute("href").rsplit("/", 1)[1])
        first.click()
        page.wait_for_url(f"**/articles/{article_id}")
        section = page.locator(f"#topic-{topic}")
        assert "match · score" in section.inner_text()
        section.get_by_role("button", name="Not relevant").click()
        page.wait_for_url(f"**/articles/{article_id}?saved={topic}*")
        assert "Marked not relevant — saved" in page.locator(f"#topic-{topic}").inner_text()
        if db_url.startswith("sqlite"):
            shoot(page, "article")
        with served.factory() as session:
            stored = session.scalars(
                select(Feedback).where(Feedback.article_id == article_id, Feedback.topic_id == topic)
            ).one()
            assert stored.relevant is False


def test_page_through_250_matches(browser: Any, history: Served) -> None:
    with page_of(browser, history.base) as (page, _):
        page.goto("/matches")
        seen: list[str] = []
        pages = 0
        while True:
            pages += 1
            seen += [a.get_attribute("href") for a in page.locator("table.matches a.title").all()]
            older = page.locator("a[rel=next]")
            if older.count() == 0:
                break
            older.click()
            page.wait_for_load_state()
        assert pages == 5 and len(seen) == len(set(seen)) == 250
        # Back one page: the fourth page exactly.
        page.locator("a[rel=prev]").click()
        page.wait_for_load_state()
        back = [a.get_attribute("href") for a in page.locator("table.matches a.title").all()]
        assert back == seen[150:200]


def test_every_page_loads_only_from_us_and_is_captured(browser: Any, history: Served) -> None:
    with page_of(browser, history.base) as (page, requested):
        sign_in(page)
        for path, name in [
            ("/topics", "topics"),
            ("/feeds", "feeds"),
            ("/deliveries?state=dead", "deliveries"),
        ]:
            page.goto(path)
            shoot(page, name)
        page.goto("/api/docs")
        page.wait_for_selector(".swagger-ui .info .title")
        assert "news-monitor" in page.locator(".swagger-ui .info .title").inner_text()
        page.get_by_text("/api/v1/matches", exact=True).first.wait_for()
        shoot(page, "api-docs")
        # The threshold preview re-scores the last 30 days with the learned model.
        page.goto(f"/topics/{TOPICS[0]}?threshold=0.6")
        page.wait_for_selector("#preview-result", timeout=240_000)
        assert "would match in all" in page.locator("#preview-result").inner_text()
        shoot(page, "topic")
    with page_of(browser, history.base) as (page, anonymous):
        page.goto("/login")
        shoot(page, "login")
    hosts = {urlsplit(url).hostname for url in requested + anonymous}
    assert hosts == {"127.0.0.1"}, hosts
