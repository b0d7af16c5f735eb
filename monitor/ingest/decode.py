"""Content-Encoding decoding of a feed body, in bounded steps.

gzip and deflate are decompressed here ``DECODE_STEP`` bytes at a time, so
the caller can stop a gzip bomb at its cap on *decoded* bytes without
inflating further.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

# Bytes handed out by one decompression step; keeps a bomb's output bounded.
DECODE_STEP = 64 * 1024


class BadEncoding(Exception):
    pass


class Decoder:
    """Content-Encoding decoding in bounded steps (identity, gzip, deflate).

    A body that says it is compressed but is not (no output before the first
    error) is passed through as is, as feedparser and browsers do.
    """

    def __init__(self, content_encoding: str | None) -> None:
        codings = [
            c.strip().lower()
            for c in (content_encoding or "").split(",")
            if c.strip() and c.strip().lower() != "identity"
        ]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise BadEncoding(f"unsupported Content-Encoding {content_encoding!r}")
        self._coding = codings[0] if codings else None
        self._zlib: Any = None
        self._started = False  # produced output
        self._held: list[bytes] = []  # raw bytes until the first output
        self._raw_fallback = False
        self._tried_raw = False
        if self._coding is not None:
            self._zlib = self._new()

    def _new(self, raw_deflate: bool = False) -> Any:
        if self._coding == "deflate":
            return zlib.decompressobj(-zlib.MAX_WBITS if raw_deflate else zlib.MAX_WBITS)
        return zlib.decompressobj(zlib.MAX_WBITS | 16)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._coding is None or self._raw_fallback:
            if data:
                yield data
            return
        if not self._started:
            self._held.append(data)
        try:
            yield from self._inflate(data)
        except zlib.error as exc:
            if self._started:
                raise BadEncoding(f"corrupt {self._coding} body: {exc}") from None
            if self._coding == "deflate" and not self._tried_raw:
                self._tried_raw = True  # "deflate" sent without its zlib header
                self._zlib = self._new(raw_deflate=True)
                held, self._held = b"".join(self._held), []
                yield from self.feed(held)
                return
            self._raw_fallback = True
            held, self._held = b"".join(self._held), []
            yield held

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while True:
            out = self._zlib.decompress(pending, DECODE_STEP)
            pending = self._zlib.unconsumed_tail
            if out:
                self._started = True
                self._held = []
                yield out
            if self._zlib.eof:
                rest = self._zlib.unused_data
                if not rest.strip(b"\x00\r\n\t "):
                    return
                self._zlib = self._new()  # a further gzip member
                pending = rest
                continue
            if not pending and len(out) < DECODE_STEP:
                return

    def finish(self) -> Iterator[bytes]:
        if self._coding is None or self._raw_fallback or self._zlib is None:
            return
        if not self._started and self._held:
            # Nothing decoded at all: a truncated header or not compressed.
            self._raw_fallback = True
            held, self._held = b"".join(self._held), []
            yield held
            return
        try:
            out = self._zlib.flush()
        except zlib.error:
            return
        if out:
            yield out
