"""Which hosts a feed may be fetched from: the address policy.

Only ``http``/``https`` URLs, never one containing a backslash, and never a
non-public address (private, loopback, link-local, multicast, unspecified,
reserved, CGNAT 100.64/10, IPv4 embedded in IPv6) unless the config allows it
(``fetch.allow_private_networks``, ``fetch.allow_hosts``). Literal addresses,
including the legacy numeric forms ``2130706433`` and ``0x7f.1``, are judged
here before any socket is opened; host names are judged by
``monitor.ingest.transport`` on the addresses actually connected to.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

import httpx

from monitor.config import FetchSettings
from monitor.ingest.types import FetchError
from monitor.urls import redact_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEMES = ("http", "https")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Networks to treat as public even though ``ipaddress`` says otherwise. Empty
# in production; tests put a documentation range here (203.0.113.0/24) to
# stand for "a public address" without touching the Internet.
EXTRA_PUBLIC_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def is_public_address(ip: IPAddress) -> bool:
    """True when ``ip`` is a globally routable unicast address.

    IPv4 inside IPv6 (mapped ``::ffff:a.b.c.d``, 6to4, Teredo, NAT64) is
    judged by the IPv4 address it carries.
    """
    if any(ip in net for net in EXTRA_PUBLIC_NETWORKS if net.version == ip.version):
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if ip.ipv4_mapped is not None:
            embedded.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
        if any(ip in net for net in _NAT64):
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if embedded:
            return all(is_public_address(v4) for v4 in embedded)
        if ip.is_site_local:
            return False
    elif ip in _CGNAT:
        return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    )


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, including ``2130706433``/``0x7f.1``."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(bare):
        # inet_aton accepts the legacy forms (decimal, octal, hex, 1-4 parts)
        # that getaddrinfo and browsers also accept.
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare.rstrip(".")))
        except OSError:
            raise FetchError("unsupported_url", f"unsupported URL: {host!r} is not a valid address") from None
    return None


def allowed(host: str, port: int, ip: IPAddress, settings: FetchSettings) -> bool:
    """May we connect to ``ip`` for ``host:port``?

    ``allow_hosts`` entries match the URL's host name (``feeds.local``,
    ``feeds.local:8080``: any address it resolves to) or the resolved address
    (``127.0.0.1:8097``: only that address, so a name that rebinds elsewhere
    is still refused).
    """
    if settings.allow_private_networks or is_public_address(ip):
        return True
    entries = {_norm_host_entry(entry) for entry in settings.allow_hosts}
    if not entries:
        return False
    name = host.strip("[]").lower().rstrip(".")
    address = str(ip)
    candidates = {name, f"{name}:{port}", address, f"{address}:{port}"}
    return bool(entries & candidates)


def _norm_host_entry(entry: str) -> str:
    entry = entry.strip().lower()
    if entry.startswith("["):  # [::1] or [::1]:8080
        inside, _, rest = entry[1:].partition("]")
        return inside + rest
    return entry.rstrip(".")


def validate_url(url: str | httpx.URL, settings: FetchSettings) -> httpx.URL:
    """Parse ``url`` and refuse what may never be fetched.

    Raises ``FetchError`` of kind ``unsupported_url`` (not http/https, a
    backslash, no host) or ``blocked`` (a literal non-public address).
    Host names are checked later, on the addresses actually connected to.
    """
    text = str(url)
    if "\\" in text:
        raise FetchError(
            "unsupported_url",
            f"unsupported URL {redact_url(text)}: a backslash is not allowed in a feed URL",
        )
    text = text.strip()
    if _CONTROL.search(text.replace(" ", "")) or " " in text:
        raise FetchError(
            "unsupported_url", f"unsupported URL {redact_url(text)}: spaces or control characters"
        )
    scheme = text.partition(":")[0].lower() if ":" in text else ""
    if scheme not in _SCHEMES:
        shown = f"scheme {scheme!r}" if scheme else "no scheme"
        raise FetchError(
            "unsupported_url",
            f"unsupported URL {redact_url(text)} ({shown}): feeds must be http:// or https:// URLs",
        )
    try:
        split = urlsplit(text)
        early_host, early_port = split.hostname, split.port
    except ValueError:
        early_host, early_port = None, None
    if early_host:
        # Before httpx parses it: httpx rejects some numeric forms (0177.0.0.1)
        # that other clients accept; they are still private addresses.
        _refuse_literal(early_host, early_port or (443 if scheme == "https" else 80), text, settings)
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise FetchError("unsupported_url", f"unsupported URL {redact_url(text)}: {exc}") from None
    if parsed.scheme not in _SCHEMES or not parsed.host:
        raise FetchError("unsupported_url", f"unsupported URL {redact_url(text)}: no host")
    _refuse_literal(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80), parsed, settings)
    return parsed


def _refuse_literal(host: str, port: int, url: str | httpx.URL, settings: FetchSettings) -> None:
    address = literal_address(host)
    if address is not None and not allowed(host, port, address, settings):
        raise FetchError(
            "blocked",
            f"private network host {address} refused for {redact_url(str(url))} "
            "(add it to fetch.allow_hosts to allow it)",
        )
