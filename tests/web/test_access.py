"""Access rules of `monitor serve`: tokens from config and environment,
where the server may listen, signed sessions, CSRF tokens."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import ConfigError, load_config_text
from monitor.web.access import Access, AccessError, check_bind, configured_tokens
from tests.web.conftest import OTHER_TOKEN, TOKEN


def access(*tokens: str, lifetime: float = 3600.0) -> Access:
    return Access(tokens, protect_reads=False, session_lifetime=lifetime)


def test_any_configured_token_is_accepted_and_nothing_else() -> None:
    gate = access(TOKEN, OTHER_TOKEN)
    assert gate.token_ok(TOKEN) and gate.token_ok(OTHER_TOKEN)
    for guess in ("", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), f"{TOKEN},{OTHER_TOKEN}"):
        assert not gate.token_ok(guess)
    assert gate.bearer(f"Bearer {TOKEN}") is True
    assert gate.bearer(f"bearer   {TOKEN}") is True
    assert gate.bearer(None) is None
    assert gate.bearer(f"Basic {TOKEN}") is False
    assert gate.bearer("Bearer ") is False
    assert not access().writes_enabled and not access().token_ok("")


def test_tokens_come_from_config_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_config_text(f"web:\n  tokens: [{TOKEN}]\n")
    monkeypatch.setenv("MONITOR_API_TOKEN", f" {OTHER_TOKEN} , third-token-0123456789 ,")
    assert configured_tokens(settings) == (TOKEN, OTHER_TOKEN, "third-token-0123456789")
    monkeypatch.setenv("MONITOR_API_TOKEN", "short")
    with pytest.raises(AccessError) as caught:
        configured_tokens(settings)
    assert "MONITOR_API_TOKEN" in str(caught.value) and "16 characters" in str(caught.value)
    assert "short" not in str(caught.value)  # a rejected token is not repeated


def test_a_weak_config_token_is_an_error_at_its_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text("web:\n  tokens:\n    - abc\n", "monitor.yaml")
    (problem,) = caught.value.problems
    assert problem.startswith("monitor.yaml:2: web.tokens: ") and "16 characters" in problem
    assert "abc" not in problem.split("web.tokens")[1]
    with pytest.raises(ConfigError, match="base_url"):
        load_config_text("web:\n  base_url: ftp://x.example\n")


def test_listening_beyond_loopback_needs_a_token() -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.53"):
        check_bind(host, ())
    for host in ("0.0.0.0", "::", "192.168.1.10", "monitor.example"):
        with pytest.raises(AccessError, match="MONITOR_API_TOKEN"):
            check_bind(host, ())
        check_bind(host, (TOKEN,))


def test_serve_refuses_at_start_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_API_TOKEN", raising=False)
    config = tmp_path / "monitor.yaml"
    config.write_text(f"database_url: sqlite:///{tmp_path}/m.sqlite3\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0 without a token" in result.output
    protect = tmp_path / "protect.yaml"
    protect.write_text(f"database_url: sqlite:///{tmp_path}/m.sqlite3\nweb: {{protect_reads: true}}\n")
    result = CliRunner().invoke(main, ["--config", str(protect), "serve"])
    assert result.exit_code == 1 and "protect_reads is on but no token" in result.output


def test_sessions_are_signed_expire_and_carry_their_own_csrf_token() -> None:
    gate = access(TOKEN, lifetime=3600)
    session, cookie = gate.new_session(signed_in=True)
    assert gate.read_session(cookie) == session
    payload, _, signature = cookie.rpartition(".")
    forged = payload.replace(payload[3], "A" if payload[3] != "A" else "B") + "." + signature
    assert gate.read_session(forged) is None
    assert gate.read_session(cookie + "0") is None
    # Another set of tokens signs differently: changing the tokens signs everybody out.
    assert access(OTHER_TOKEN).read_session(cookie) is None
    expired = access(TOKEN, lifetime=-1).new_session(signed_in=True)[1]
    assert gate.read_session(expired) is None
    other, _ = gate.new_session(signed_in=True)
    assert gate.csrf_ok(session, gate.csrf_token(session))
    assert not gate.csrf_ok(session, gate.csrf_token(other))
    assert not gate.csrf_ok(None, gate.csrf_token(session))
    assert not gate.csrf_ok(session, "")
    assert session.expires > time.time() + 3500
