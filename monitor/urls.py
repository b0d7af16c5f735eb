"""URLs shown to people: one rule for every URL the service prints.

A URL may carry secrets: ``user:password@`` in a feed, database or broker URL;
tokens in the host, path and query of a notification (Apprise) URL. Whatever
is shown (logs, errors, notices, the CLI, the API) goes through
:func:`redact_url`:

* credentials (``user:password@``) never appear;
* control characters and spaces are escaped, so a URL stays one line;
* the result is bounded (``limit`` characters, a ``…`` marks a cut);
* with ``tokens=True`` (notification URLs) every path segment, every query
  value but those of a few harmless parameters, the fragment and a host that
  is itself a token are masked: ``slack://T000/B000/XXXX`` becomes
  ``slack://T000/****/****``.

:func:`scrub_userinfo` does the first rule on free text (an error message, a
log line) that may hold URLs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

MASK = "****"
SHOWN_URL_MAX = 300  # the feeds.name column, where a URL stands in for a missing name

_USERINFO = re.compile(r"//[^/@\s]*@")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*")
_HOSTNAME = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+|localhost)$")

# Query parameters of notification URLs whose values are harmless and useful
# when reading a URL.
PUBLIC_PARAMS = frozenset(
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
# Notification schemas whose "host" part is itself a token (tgram://BOTTOKEN/chat).
_HOST_IS_TOKEN = frozenset({"tgram", "telegram", "pover", "pbul", "join", "ifttt", "pjet", "prowl"})


@dataclass(frozen=True)
class UrlParts:
    """A URL cut at its delimiters, without judging what the parts mean."""

    scheme: str  # lower-case
    user: str | None
    password: str | None
    host: str
    port: str | None
    path: str  # without its leading "/"
    query: str
    fragment: str


def split_url(url: str) -> UrlParts | None:
    """The parts of ``scheme://[user[:password]@]host[:port][/path][?query][#fragment]``;
    None without ``scheme://``. Looser than ``urlsplit`` on purpose: notification
    URLs put tokens where a port or a host would be."""
    scheme, separator, rest = url.strip().partition("://")
    if not separator or not _SCHEME.fullmatch(scheme):
        return None
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    user: str | None = None
    password: str | None = None
    if at:
        user, colon, secret = userinfo.partition(":")
        password = secret if colon else None
    host, port = hostport, None
    if not hostport.startswith("[") and hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
    elif hostport.startswith("[") and "]:" in hostport:
        host, _, port = hostport.rpartition(":")
    return UrlParts(scheme.lower(), user, password, host, port, path, query, fragment)


def host_is_visible(scheme: str, host: str) -> bool:
    """Whether a notification URL's host can be shown (a host name, an
    address, a Slack workspace id), rather than being a token."""
    if scheme in _HOST_IS_TOKEN:
        return False
    if scheme == "slack" and re.fullmatch(r"[A-Za-z0-9]{1,12}", host):
        return True  # the workspace id (T012AB3C4), not a secret
    return bool(_HOSTNAME.match(host))


def redact_url(url: str, *, tokens: bool = False, limit: int = SHOWN_URL_MAX) -> str:
    """The URL as it may be shown: see the module's rules."""
    parts = split_url(url)
    if tokens and parts is None:
        return "<unparseable URL>"
    if parts is not None and tokens:
        shown = _masked(parts)
    elif parts is None:
        shown = scrub_userinfo(url)
    else:
        scheme, _, rest = url.strip().partition("://")
        cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        shown = f"{scheme}://{rest[:cut].rpartition('@')[2]}{rest[cut:]}"
    shown = _CONTROL.sub(lambda m: f"%{ord(m.group()):02X}", shown)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _masked(parts: UrlParts) -> str:
    out = f"{parts.scheme}://"
    if parts.host:
        out += parts.host if host_is_visible(parts.scheme, parts.host) else MASK
    if parts.port is not None:
        out += f":{parts.port}" if parts.port.isdigit() else f":{MASK}"
    if parts.path:
        out += "/" + "/".join(MASK if segment else "" for segment in parts.path.split("/"))
    if parts.query:
        shown = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            safe_key = re.sub(r"[^A-Za-z0-9_+\-:.]", "", key)[:40]
            visible = key.lower() in PUBLIC_PARAMS and len(value) <= 200
            shown.append(f"{safe_key}={value if visible else MASK}")
        out += "?" + "&".join(shown)
    if parts.fragment:
        out += f"#{MASK}"
    return out


def scrub_userinfo(text: str) -> str:
    """Any text (an error message, a log line) with the ``user:password@`` of
    every URL in it removed."""
    return _USERINFO.sub("//", text) if "@" in text else text


def article_page_url(base_url: str | None, article_id: int) -> str | None:
    """The page of one article (``monitor serve``), where a person says
    whether a match was right; None without ``web.base_url``."""
    return f"{base_url.rstrip('/')}/articles/{article_id}" if base_url else None
