"""Fixtures for the pages and the API: a stored history, settings with a
token, an app over it (``TestClient``), and a signed-in browser client.

The database is the real one of ``db_url`` (SQLite, then PostgreSQL); the
history is ``tests.support.corpus``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings, load_config_text
from monitor.web.app import create_app
from tests.support.corpus import TOPIC_NAMES, TOPICS, Corpus, fill

TOKEN = "test-token-0123456789abcdef"
OTHER_TOKEN = "second-token-abcdef0123456789"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')

MakeSettings = Callable[..., Settings]
MakeClient = Callable[..., TestClient]


def config_text(
    db_url: str, *, tokens: tuple[str, ...] = (TOKEN,), extra: str = "", model: str = "rules"
) -> str:
    topics = "\n".join(
        f'  - {{id: {topic}, name: "{TOPIC_NAMES[topic]}", model: {model}'
        + (", rules: {any: [actors, acteurs, AI, IA, strike, grève]}" if model == "rules" else "")
        + ", channels: [newsroom]}"
        for topic in TOPICS
    )
    web = f"web:\n  tokens: [{', '.join(tokens)}]\n" if tokens else ""
    return (
        f"database_url: '{db_url}'\n"
        "channels:\n  - {name: newsroom, url: 'json://127.0.0.1:9/hook'}\n"
        f"topics:\n{topics}\n{web}{extra}"
    )


@pytest.fixture
def make_settings(db_url: str) -> MakeSettings:
    def make(**kwargs: object) -> Settings:
        return load_config_text(config_text(db_url, **kwargs))  # type: ignore[arg-type]

    return make


@pytest.fixture
def make_client(make_settings: MakeSettings) -> MakeClient:
    def make(**kwargs: object) -> TestClient:
        return TestClient(create_app(make_settings(**kwargs)), follow_redirects=False)

    return make


@pytest.fixture
def corpus(session_factory: sessionmaker[Session]) -> Corpus:
    """120 matches over 30 days, with their articles and deliveries."""
    return fill(session_factory, matches=120, days=30)


def sign_in(client: TestClient, token: str = TOKEN) -> None:
    page = client.get("/login")
    csrf = CSRF.search(page.text)
    assert csrf is not None, page.text
    response = client.post("/login", data={"csrf": csrf.group(1), "token": token, "next": "/matches"})
    assert response.status_code == 303, response.text


def csrf_of(client: TestClient, path: str) -> str:
    found = CSRF.search(client.get(path).text)
    assert found is not None
    return found.group(1)


def screenshots_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "docs" / "screenshots"
