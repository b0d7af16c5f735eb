"""The ``web:`` section: the pages and the API of ``monitor serve``."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from monitor.config.fields import Duration, Strict


class WebSettings(Strict):
    """The pages and the HTTP API of ``monitor serve``.

    Writes (feedback, feed reset, delivery retry) need a token: an API client
    sends ``Authorization: Bearer TOKEN``; a person signs in on the pages with
    it. Tokens come from here and from ``MONITOR_API_TOKEN`` (one, or several
    separated by commas). Without any token the server refuses to listen on
    anything but a loopback address, and serves read-only.
    """

    base_url: str | None = Field(
        None,
        description="where people reach the pages (https://monitor.example.org); alerts then link "
        "to each article's page, where one click records feedback",
    )
    tokens: tuple[str, ...] = Field(
        (), description="bearer tokens for API writes and for signing in on the pages; use ${ENV}"
    )
    protect_reads: bool = Field(False, description="reads need a token or a sign-in too, not only writes")
    session_lifetime: Duration = Field(30 * 86400.0, description="how long a sign-in on the pages lasts")
    page_size: int = Field(50, ge=10, le=500, description="matches and deliveries per page")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("base_url must be an http:// or https:// URL without query or fragment")
        return value.strip().rstrip("/")

    @field_validator("tokens")
    @classmethod
    def _strong_tokens(cls, tokens: tuple[str, ...]) -> tuple[str, ...]:
        for token in tokens:
            problem = token_problem(token)
            if problem:
                raise ValueError(problem)
        return tokens


MIN_TOKEN_LENGTH = 16


def token_problem(token: str) -> str | None:
    """Why a token cannot be used (None when it can). The message never
    repeats the token: config errors and logs are read by others."""
    if len(token) < MIN_TOKEN_LENGTH:
        return f"a token needs at least {MIN_TOKEN_LENGTH} characters (this one has {len(token)})"
    if any(ch.isspace() or ch == "," or not ch.isprintable() for ch in token):
        return "a token cannot contain spaces, commas or control characters"
    return None
