"""feedparser's own 2,248 test documents through our ingest path (case 1).

bytes -> ``parse_feed`` (guards, feedparser) -> ``normalize_item``: no
exception but ``ParseError`` escapes, refusals happen only where expected,
entry counts match what feedparser 6.0.14 itself returned
(``_observed-feedparser-6.0.14.tsv``), every stored value is a ``str``, and
time and memory stay within generous bounds (figures printed with ``-s``).
"""

from __future__ import annotations

import csv
import os
import re
import resource
import time
from collections import Counter
from pathlib import Path

import psutil

from monitor.ingest.normalize import normalize_item
from monitor.ingest.parse import parse_feed
from monitor.ingest.types import NormalizedArticle, ParseError
from tests.conftest import shared_path

# The two corpus documents that declare entities; our policy refuses them.
ENTITY_DOCUMENTS = {"wellformed/rss/entity_in_doctype.xml", "wellformed/rdf/doctype_contains_entity_decl.xml"}
_HEADER = re.compile(rb"^Header:\s*Content-type:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)


def _observed() -> dict[str, dict[str, str]]:
    path = shared_path("peer", "feedparser", "_observed-feedparser-6.0.14.tsv")
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return {row["file"]: row for row in csv.DictReader(lines, delimiter="\t")}


def _content_type(body: bytes) -> str | None:
    """The Content-type a file's ``Header:`` line asks its server to send."""
    match = _HEADER.search(body[:2000])
    return match.group(1).decode("ascii", "replace") if match else None


def _check_article(article: NormalizedArticle) -> None:
    assert isinstance(article.item_key, str) and article.item_key
    assert isinstance(article.title, str) and isinstance(article.summary, str)
    assert article.link is None or article.link.startswith(("http://", "https://"))
    assert article.language is None or isinstance(article.language, str)
    assert "\x00" not in article.title + article.summary
    assert len(article.content_hash) == 64


def test_peer_corpus_through_the_ingest_path() -> None:
    root = shared_path("peer", "feedparser", "v6.0.14", "tests")
    observed = _observed()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert len(files) == 2248

    outcomes: Counter[str] = Counter()
    refused: dict[str, str] = {}
    count_mismatches: list[str] = []
    articles = 0
    process = psutil.Process(os.getpid())
    rss_before = process.memory_info().rss
    started = time.monotonic()
    for path in files:
        relative = path.relative_to(root).as_posix()
        body = path.read_bytes()
        url = f"http://127.0.0.1:8097/tests/{relative}"
        try:
            feed = parse_feed(body, url=url, content_type=_content_type(body))
        except ParseError as exc:
            outcomes[exc.kind] += 1
            refused[relative] = exc.kind
            continue
        outcomes["parsed"] += 1
        assert isinstance(feed.title, str)
        row = observed.get(f"v6.0.14/tests/{relative}")
        if row is not None and int(row["entries"]) != len(feed.items):
            count_mismatches.append(f"{relative}: feedparser {row['entries']}, ours {len(feed.items)}")
        for item in feed.items:
            _check_article(normalize_item(item, feed_language=feed.language))
            articles += 1
    elapsed = time.monotonic() - started
    growth = (process.memory_info().rss - rss_before) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\npeer corpus: {len(files)} documents, {dict(outcomes)}, {articles} articles, "
        f"{elapsed:.2f}s, RSS growth {growth:.0f} MiB, process peak RSS {peak:.0f} MiB"
    )

    # Refusals only where feedparser itself found no feed, or entities.
    for relative, kind in refused.items():
        row = observed[f"v6.0.14/tests/{relative}"]
        if kind == "dtd":
            assert relative in ENTITY_DOCUMENTS, relative
        else:
            assert kind == "not_a_feed", (relative, kind)
            assert row["version"] == "" and row["entries"] == "0", (relative, row)
    assert set(ENTITY_DOCUMENTS) <= set(refused)
    assert outcomes["parsed"] >= 2230
    # Content-type headers can change how a few documents decode, never how
    # many entries they have.
    assert count_mismatches == []
    assert elapsed < 60, elapsed  # about 5 s on a 2-core machine
    assert growth < 500, growth


def test_docs_examples_parse() -> None:
    root = shared_path("peer", "feedparser", "docs-examples")
    files = sorted(p for p in root.rglob("*.xml") if p.is_file())
    assert files
    for path in files:
        feed = parse_feed(path.read_bytes(), url="http://example.org/feed.xml")
        for item in feed.items:
            _check_article(normalize_item(item, feed_language=feed.language))


def test_observed_table_is_readable() -> None:
    observed = _observed()
    assert len([k for k in observed if k.startswith("v6.0.14/")]) == 2248
    assert Path(next(iter(observed))).suffix
