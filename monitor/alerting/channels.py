"""Apprise channels: build (and cache) one ``apprise.Apprise`` per channel,
send, read the result honestly, and keep secrets out of every text we emit.

* ``notify()`` never raises on a delivery problem (neither does Apprise): it
  returns ``SendOutcome``. Only ``AppriseResultStatus.SUCCESS`` is success;
  FAILURE, NOMATCH, PARTIAL and TIMEOUT are failures. TIMEOUT is the
  ambiguous case: Apprise stops waiting but the request may still reach the
  provider, so a retry can duplicate it (documented at-least-once).
* A channel with a URL Apprise cannot load is a configuration error. Nothing
  is sent to the channel's other URLs either, so that a retried delivery does
  not duplicate them; the message names the channel and the redacted URL.
* ``monitor.urls.redact_url(url, tokens=True)`` hides credentials, tokens,
  webhook path secrets and query values. Every secret found in a configured URL is also registered, and a
  filter on the ``apprise`` logger scrubs them (and any URL) from Apprise's own
  log records, which at DEBUG include full webhook URLs and at ERROR the raw
  text of an unparseable URL. The same scrub runs over the outcome details.
* Apprise retries are left at 0 (``retry=`` in the URL is the operator's
  choice): retries are ours, visible in the deliveries table. Apprise's
  per-service throttle (``request_rate_per_sec``: 1.2 s Slack, 5.5 s email and
  most others, 0 for JSON/Discord) is kept in production: it spaces messages
  to one provider. ``REQUEST_INTERVAL_OVERRIDE`` replaces it for every plugin
  (tests set 0).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

import apprise
from apprise import AppriseResultStatus, NotifyFormat, NotifyType

from monitor.alerting.message import Limits, limits_for_urls, schema_of
from monitor.config import ChannelConfig, environment
from monitor.urls import MASK, PUBLIC_PARAMS, host_is_visible, redact_url, split_url

log = logging.getLogger(__name__)

# Seconds between two requests of one plugin object; None keeps Apprise's.
# ``MONITOR_ALERT_REQUEST_INTERVAL`` sets it from the environment (e.g. 0 in
# end-to-end tests that run the real command).
REQUEST_INTERVAL_OVERRIDE: float | None = environment.alert_request_interval()

_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s'\"<>]+")


@dataclass(frozen=True)
class SendOutcome:
    ok: bool
    detail: str
    # True when the channel's configuration is the problem (bad URL, no
    # service loaded): retrying does not help until the config changes.
    config_error: bool = False


class ChannelConfigError(ValueError):
    """A channel whose URLs Apprise cannot use. The message holds no secret."""


# --- redaction ----------------------------------------------------------------

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def _secrets_of(apprise_url: str) -> set[str]:
    parts = split_url(apprise_url)
    if parts is None:
        # Nothing can be trusted as public: register the text after '://'.
        body = apprise_url.partition("://")[2] or apprise_url
        return {body.strip()} if len(body.strip()) >= 4 else set()
    found: set[str] = set()
    if parts.host and not host_is_visible(parts.scheme, parts.host):
        found.add(parts.host)
    found.update(segment for segment in parts.path.split("/") if segment)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() not in PUBLIC_PARAMS and value:
            found.add(value)
    if parts.fragment:
        found.add(parts.fragment)
    # Both the raw and the percent-decoded forms can appear in messages.
    found = {s for s in found | {unquote(s) for s in found} if _token_like(s)}
    if parts.user and len(parts.user) >= 4:
        # Credentials are never shown: a user name can be a token as well.
        found |= {parts.user, unquote(parts.user)} if _token_like(parts.user) else set()
    if parts.password and len(parts.password) >= 4:
        found |= {parts.password, unquote(parts.password)}
    return found


def _token_like(value: str) -> bool:
    """Worth scrubbing from free text: long, or not a plain lower-case word
    (``/alerts`` or ``/hook`` in a URL path are not secrets, and hiding
    them everywhere would garble logs)."""
    if len(value) >= 16:
        return True
    return len(value) >= 8 and not re.fullmatch(r"[a-z\-_.]+", value)


def register_secrets(urls: Iterable[str]) -> None:
    """Remember the secret parts of these URLs so logs and errors hide them."""
    new: set[str] = set()
    for url in urls:
        new |= _secrets_of(url)
    with _secrets_lock:
        _secrets.update(new)


def redact_text(text: str) -> str:
    """Free text with every registered secret and every URL's secrets hidden."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0), tokens=True), text)
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class _RedactingFilter(logging.Filter):
    """Scrubs secrets from every record of the ``apprise`` logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: drop its arguments
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        return True


# Apprise's own logger, and urllib3's request lines ("POST /<webhook token>")
# that appear at DEBUG. A logger's filters see only records created on that
# very logger, hence the explicit list.
for _name in ("apprise", "urllib3.connectionpool"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _RedactingFilter) for f in _logger.filters):
        _logger.addFilter(_RedactingFilter())


# --- building and caching -----------------------------------------------------

_cache: dict[tuple[str, tuple[str, ...]], apprise.Apprise] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget built Apprise objects (after a config reload, or in tests)."""
    with _cache_lock:
        _cache.clear()


def _build(channel: ChannelConfig) -> apprise.Apprise:
    register_secrets(channel.urls)
    apobj = apprise.Apprise()
    problems: list[str] = []
    for index, url in enumerate(channel.urls, start=1):
        if not apobj.add(url):
            problems.append(f"URL #{index} ({redact_url(url, tokens=True)}) is not a valid Apprise URL")
    if problems:
        raise ChannelConfigError(f"channel {channel.name!r}: " + "; ".join(problems))
    if REQUEST_INTERVAL_OVERRIDE is not None:
        for service in apobj:
            service.request_rate_per_sec = REQUEST_INTERVAL_OVERRIDE
    return apobj


def get_apprise(channel: ChannelConfig) -> apprise.Apprise:
    """The cached Apprise object of a channel; ``ChannelConfigError`` if a URL is bad."""
    key = (channel.name, tuple(channel.urls))
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    built = _build(channel)
    with _cache_lock:
        return _cache.setdefault(key, built)


def check_channel(channel: ChannelConfig) -> list[str]:
    """Problems with a channel's URLs (for ``monitor config check``); no secrets."""
    try:
        _build(channel)
    except ChannelConfigError as exc:
        return [str(exc)]
    return []


def channel_limits(channel: ChannelConfig) -> Limits:
    return limits_for_urls(channel.urls)


def channel_kinds(channel: ChannelConfig) -> list[str]:
    return sorted({schema_of(url) for url in channel.urls})


# --- sending ------------------------------------------------------------------


def _describe(result: apprise.AppriseResult) -> str:
    pieces: list[str] = []
    for service in result:
        if service.status == AppriseResultStatus.SUCCESS:
            continue
        messages = [
            entry.message
            for attempt in service
            for entry in attempt
            if entry.level in ("WARNING", "ERROR", "CRITICAL", "DEPRECATION WARNING")
        ]
        reason = " / ".join(dict.fromkeys(messages)) or "no detail"
        pieces.append(f"{service.name} {service.status.name}: {reason}")
    for entry in result.call_logs():
        if entry.level in ("WARNING", "ERROR", "CRITICAL"):
            pieces.append(entry.message)
    return redact_text("; ".join(dict.fromkeys(pieces)))


def notify(
    channel: ChannelConfig,
    title: str,
    body: str,
    timeout: float,
    *,
    notify_type: NotifyType = NotifyType.INFO,
    html: bool = False,
) -> SendOutcome:
    """Send plain text (or HTML, ``html``) to every URL of ``channel``;
    never raises for delivery."""
    try:
        apobj = get_apprise(channel)
    except ChannelConfigError as exc:
        return SendOutcome(False, str(exc), config_error=True)
    try:
        result = apobj.notify(
            body=body,
            title=title,
            notify_type=notify_type,
            body_format=NotifyFormat.HTML if html else NotifyFormat.TEXT,
            timeout=timeout,
        )
    except Exception as exc:  # Apprise raises only for a call it cannot make
        return SendOutcome(False, redact_text(f"apprise refused the call: {type(exc).__name__}: {exc}"))
    try:
        status = result.status
        if status == AppriseResultStatus.SUCCESS and bool(result):
            return SendOutcome(True, f"sent to {result.success_count} service(s)")
        if status == AppriseResultStatus.NOMATCH:
            return SendOutcome(
                False,
                f"channel {channel.name!r}: no notification service was loaded (NOMATCH)",
                config_error=True,
            )
        detail = _describe(result)
        prefix = {
            AppriseResultStatus.PARTIAL: "partly failed (PARTIAL)",
            AppriseResultStatus.TIMEOUT: "timed out; the provider may still receive it (TIMEOUT)",
        }.get(status, f"failed ({status.name})")
        return SendOutcome(False, f"{prefix}: {detail}" if detail else prefix)
    finally:
        result.close()
