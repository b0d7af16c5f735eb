"""Who may read and write through ``monitor serve``.

* A **token** is the credential: from ``web.tokens`` and ``MONITOR_API_TOKEN``
  (comma-separated). A presented token is compared with every configured one
  through fixed-length digests and ``hmac.compare_digest``, with no early
  exit, so the time taken says nothing about how close a guess was. No token
  is ever logged or echoed: messages say *that* a token failed, never which.
* **API clients** send ``Authorization: Bearer TOKEN``. API writes accept
  nothing else: a browser never adds that header by itself, so a page on
  another site cannot make a logged-in browser write (no CSRF on the API).
* **People** sign in on the pages with a token and get a signed session
  cookie (``HttpOnly``, ``SameSite=Lax``, ``Secure`` behind https). Every
  form carries a CSRF token derived from the session's random nonce; a POST
  whose token does not match is refused with 403. Signing in replaces the
  nonce (no session fixation).
* The cookie key is derived from the configured tokens, so every process
  behind one config accepts the same sessions, and changing the tokens
  signs everybody out. Without tokens nobody can sign in and the key is
  random.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any

from monitor.config import Settings, environment
from monitor.config.schema import token_problem

SESSION_COOKIE = "nm_session"
CSRF_FIELD = "csrf"


class AccessError(ValueError):
    """Access settings the server must not start with; the message says why."""


def configured_tokens(settings: Settings) -> tuple[str, ...]:
    """Every token: the config's and ``MONITOR_API_TOKEN``'s (checked here:
    the config's were checked at load)."""
    from_env = environment.api_tokens()
    for token in from_env:
        problem = token_problem(token)
        if problem:
            raise AccessError(f"{environment.API_TOKEN.name}: {problem}")
    return tuple(dict.fromkeys((*settings.web.tokens, *from_env)))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tokens: tuple[str, ...]) -> None:
    """Refuse to serve beyond this machine with nothing protecting the writes."""
    if not tokens and not is_loopback(host):
        raise AccessError(
            f"refusing to listen on {host} without a token: anyone who can reach it could change "
            f"feedback, feeds and deliveries. Set {environment.API_TOKEN.name} (or web.tokens in the "
            "config), or listen on 127.0.0.1."
        )


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class Session:
    """A browser's session: a random nonce (the CSRF tokens derive from
    it), signed in or not, and when it ends."""

    nonce: str
    signed_in: bool
    expires: float


class Access:
    def __init__(self, tokens: tuple[str, ...], *, protect_reads: bool, session_lifetime: float) -> None:
        self._digests = tuple(_digest(token) for token in tokens)
        self.protect_reads = protect_reads and bool(tokens)
        self.session_lifetime = session_lifetime
        if tokens:
            material = b"\0".join(sorted(self._digests))
            self._key = hashlib.sha256(b"news-monitor web session\0" + material).digest()
        else:
            self._key = os.urandom(32)

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        tokens = configured_tokens(settings)
        if settings.web.protect_reads and not tokens:
            raise AccessError(
                f"web.protect_reads is on but no token is configured: set {environment.API_TOKEN.name} "
                "or web.tokens, or nobody could read anything"
            )
        return cls(
            tokens,
            protect_reads=settings.web.protect_reads,
            session_lifetime=settings.web.session_lifetime,
        )

    @property
    def writes_enabled(self) -> bool:
        """False without any token: nothing can be changed through the server."""
        return bool(self._digests)

    def token_ok(self, presented: str) -> bool:
        presented_digest = _digest(presented)
        ok = False
        for digest in self._digests:  # every one, whatever the outcome
            ok |= hmac.compare_digest(presented_digest, digest)
        return ok

    def bearer(self, authorization: str | None) -> bool | None:
        """None without an ``Authorization: Bearer`` header, else whether its token is good."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        return self.token_ok(token.strip())

    # -- sessions (the pages) -------------------------------------------------------

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def new_session(self, *, signed_in: bool) -> tuple[Session, str]:
        """A fresh session and its cookie value."""
        lifetime = self.session_lifetime if signed_in else 86400.0
        session = Session(secrets.token_urlsafe(18), signed_in, float(int(time.time() + lifetime)))
        raw = json.dumps({"n": session.nonce, "s": signed_in, "e": int(session.expires)}).encode()
        payload = base64.urlsafe_b64encode(raw).rstrip(b"=")
        return session, f"{payload.decode('ascii')}.{self._sign(payload)}"

    def read_session(self, cookie: str | None) -> Session | None:
        """The session of a cookie this server signed and that has not expired."""
        if not cookie or "." not in cookie:
            return None
        payload, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(self._sign(payload.encode("ascii", "replace")), signature):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(str(data["n"]), bool(data["s"]), float(data["e"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if session.expires < time.time():
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf\0{session.nonce}".encode())

    def csrf_ok(self, session: Session | None, presented: str | None) -> bool:
        if session is None or not presented:
            return False
        return hmac.compare_digest(self.csrf_token(session), presented)


MASK = "****"


class RedactTokens(logging.Filter):
    """Masks the configured tokens in every log record a handler emits: a
    token pasted into a URL would otherwise reach the access log with it."""

    def __init__(self, tokens: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__()
        self.tokens = tuple(tokens)

    def _clean(self, value: object) -> object:
        if isinstance(value, str):
            for token in self.tokens:
                value = value.replace(token, MASK)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        if self.tokens:
            record.msg = self._clean(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(self._clean(arg) for arg in record.args)
            elif isinstance(record.args, dict):
                record.args = {key: self._clean(arg) for key, arg in record.args.items()}
        return True


def logging_config(tokens: tuple[str, ...]) -> dict[str, Any]:
    """uvicorn's logging configuration with :class:`RedactTokens` on its handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": RedactTokens, "tokens": list(tokens)}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    return config
