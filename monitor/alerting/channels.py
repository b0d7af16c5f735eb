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
* ``redact_url()`` hides passwords, tokens, webhook path secrets and query
  values. Every secret found in a configured URL is also registered, and a
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
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

import apprise
from apprise import AppriseResultStatus, NotifyFormat, NotifyType

from monitor.alerting.message import Limits, limits_for_urls, schema_of
from monitor.config import ChannelConfig

log = logging.getLogger(__name__)

MASK = "****"

# Seconds between two requests of one plugin object; None keeps Apprise's.
# ``MONITOR_ALERT_REQUEST_INTERVAL`` sets it from the environment (e.g. 0 in
# end-to-end tests that run the real command).
REQUEST_INTERVAL_ENV = "MONITOR_ALERT_REQUEST_INTERVAL"
REQUEST_INTERVAL_OVERRIDE: float | None = None
if os.environ.get(REQUEST_INTERVAL_ENV):
    try:
        REQUEST_INTERVAL_OVERRIDE = max(0.0, float(os.environ[REQUEST_INTERVAL_ENV]))
    except ValueError:
        log.warning("%s is not a number; ignored", REQUEST_INTERVAL_ENV)

# Query parameters whose values are harmless and useful when reading a URL.
_PUBLIC_PARAMS = frozenset(
    {
        "format",
        "overflow",
        "mode",
        "method",
        "retry",
        "wait",
        "cto",
        "rto",
        "verify",
        "image",
        "footer",
        "timestamp",
        "blocks",
        "tts",
        "avatar",
        "optional",
        "smtp",
        "from",
        "to",
        "cc",
        "bcc",
        "name",
        "lang",
        "batch",
        "priority",
        "secure",
    }
)
# Schemas whose "host" part is itself a token (e.g. tgram://BOTTOKEN/chat).
_HOST_IS_SECRET = frozenset({"tgram", "telegram", "pover", "pbul", "join", "ifttt", "pjet", "prowl"})
_HOSTNAME = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+|localhost)$")
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


def _split_netloc(netloc: str) -> tuple[str | None, str | None, str, str | None]:
    userinfo, at, hostport = netloc.rpartition("@")
    user: str | None = None
    password: str | None = None
    if at:
        user, colon, pw = userinfo.partition(":")
        password = pw if colon else None
    host, port = hostport, None
    if not hostport.startswith("[") and hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
    elif hostport.startswith("[") and "]:" in hostport:
        host, _, port = hostport.rpartition(":")
    return user, password, host, port


def _host_visible(schema: str, host: str) -> bool:
    if schema in _HOST_IS_SECRET:
        return False
    if schema == "slack" and re.fullmatch(r"[A-Za-z0-9]{1,12}", host):
        return True  # the workspace id (T012AB3C4), not a secret
    return bool(_HOSTNAME.match(host))


def _parts(url: str) -> tuple[str, str, str, str, str] | None:
    schema, sep, rest = url.strip().partition("://")
    if not sep or not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.\-]*", schema):
        return None
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    return schema.lower(), netloc, path if slash else "", query, fragment


def redact_url(apprise_url: str) -> str:
    """The URL with every secret part replaced by ``****``.

    Kept: the schema, user names, host names/IPs (and short ids such as Slack's
    team id), ports, parameter names and the values of a few harmless
    parameters. Hidden: passwords, every path segment (webhook tokens live
    there), token-like hosts, all other parameter values and the fragment.
    ``slack://T000/B000/XXXX`` -> ``slack://T000/****/****``.
    """
    parts = _parts(apprise_url)
    if parts is None:
        return "<unparseable URL>"
    schema, netloc, path, query, fragment = parts
    user, password, host, port = _split_netloc(netloc)
    out = f"{schema}://"
    if user is not None:
        out += (user if len(user) <= 64 else MASK) + (f":{MASK}" if password is not None else "") + "@"
    elif password is not None:
        out += f":{MASK}@"
    if host:
        out += host if _host_visible(schema, host) else MASK
    if port is not None:
        out += f":{port}" if port.isdigit() else f":{MASK}"
    if path:
        out += "/" + "/".join(MASK if seg else "" for seg in path.split("/"))
    if query:
        shown = []
        for key, value in parse_qsl(query, keep_blank_values=True):
            safe_key = re.sub(r"[^A-Za-z0-9_+\-:.]", "", key)[:40]
            visible = key.lower() in _PUBLIC_PARAMS and len(value) <= 200
            shown.append(f"{safe_key}={value if visible else MASK}")
        out += "?" + "&".join(shown)
    if fragment:
        out += f"#{MASK}"
    return out


def _secrets_of(apprise_url: str) -> set[str]:
    parts = _parts(apprise_url)
    if parts is None:
        # Nothing can be trusted as public: register the text after '://'.
        body = apprise_url.partition("://")[2] or apprise_url
        return {body.strip()} if len(body.strip()) >= 4 else set()
    schema, netloc, path, query, fragment = parts
    _user, password, host, _port = _split_netloc(netloc)
    found: set[str] = set()
    if host and not _host_visible(schema, host):
        found.add(host)
    found.update(seg for seg in path.split("/") if seg)
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.lower() not in _PUBLIC_PARAMS and value:
            found.add(value)
    if fragment:
        found.add(fragment)
    # Both the raw and the percent-decoded forms can appear in messages.
    found = {s for s in found | {unquote(s) for s in found} if _token_like(s)}
    if password and len(password) >= 4:
        found |= {password, unquote(password)}
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
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
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
            problems.append(f"URL #{index} ({redact_url(url)}) is not a valid Apprise URL")
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
) -> SendOutcome:
    """Send plain text to every URL of ``channel``; never raises for delivery."""
    try:
        apobj = get_apprise(channel)
    except ChannelConfigError as exc:
        return SendOutcome(False, str(exc), config_error=True)
    try:
        result = apobj.notify(
            body=body,
            title=title,
            notify_type=notify_type,
            body_format=NotifyFormat.TEXT,
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
