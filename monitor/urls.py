"""Credentials out of URLs shown to people (logs, errors, notices, the API).

A feed URL may carry ``user:password@``; it is used to fetch and never shown.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_USERINFO = re.compile(r"//[^/@\s]*@")


def without_userinfo(url: str) -> str:
    """One URL without its ``user:password@``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub_userinfo(url)
    if parts.username is None and parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def scrub_userinfo(text: str) -> str:
    """Any text (an error message, a log line) with the ``user:password@`` of
    every URL in it removed."""
    return _USERINFO.sub("//", text) if "@" in text else text
