"""Full text: the article's own page, for feeds that carry only a teaser.

A feed that says one line per item is classified on that line unless the
page is read. Per feed (``full_text: true``), or by default when most of a
feed's summaries are teasers (one sentence, shorter than
``full_text.teaser_words`` words, or cut with an ellipsis or a "read
more"), the poll fetches the page of each
*new* article through the feed fetcher (``fetch_page``: the same private
network guard on every hop, total deadline, decoded-size cap) and extracts
its main text with trafilatura, a maintained extractor (its own downloader
is never used). The text is stored with the article; the classifier reads
title + summary + the start of it, and the match's evidence says so.

A page that cannot be had costs the article nothing: it is stored and
classified on its summary, with a note saying why there is no body.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import FeedConfig, Settings
from monitor.ingest.fetch import RequestOptions, fetch_page
from monitor.ingest.types import FetchError, NormalizedArticle
from monitor.matching.text import sentences
from monitor.storage.articles import known_item_keys
from monitor.storage.feeds import FeedLease
from monitor.urls import redact_url

log = logging.getLogger(__name__)

NOTE_MAX = 300
_CUT = re.compile(
    r"(\u2026|\.\.\.|\[\s*(?:\u2026|\.\.\.)\s*\]|read more|continue reading|lire la suite|en savoir plus)\W*$",
    re.IGNORECASE,
)


def is_teaser(summary: str, teaser_words: int) -> bool:
    """A summary too short to classify on: one sentence at most, fewer than
    ``teaser_words`` words, or visibly cut ("…", "Read more")."""
    text = summary.strip()
    return len(text.split()) < teaser_words or bool(_CUT.search(text)) or len(sentences(text)) <= 1


def teaser_feed(articles: Sequence[NormalizedArticle], teaser_words: int) -> bool:
    """True when at least half of a document's items are teasers."""
    if not articles:
        return False
    teasers = sum(1 for article in articles if is_teaser(article.summary, teaser_words))
    return teasers * 2 >= len(articles)


def wants_full_text(
    feed: FeedConfig | None, settings: Settings, articles: Sequence[NormalizedArticle]
) -> bool:
    """The feed's own ``full_text``, else ``full_text.mode`` (``auto``: a teaser feed)."""
    if feed is not None and feed.full_text is not None:
        return feed.full_text
    mode = settings.full_text.mode
    if mode == "auto":
        return teaser_feed(articles, settings.full_text.teaser_words)
    return mode == "always"


def extract_main_text(html: bytes, url: str) -> str | None:
    """The page's main text (no navigation, comments or boilerplate), or None."""
    # Imported when a page is first read: it costs a process that never
    # reads one (the CLI, a feed with full summaries) about 0.3 s and 30 MiB.
    import trafilatura

    text = trafilatura.extract(
        html,
        url=url,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        favor_precision=True,
        deduplicate=False,
    )
    if not text:
        return None
    return " ".join(text.split())


def _page_options(feed_url: str, page_url: str, options: RequestOptions) -> RequestOptions:
    """The feed's headers and credentials go to the feed's own host only."""
    if urlsplit(feed_url).hostname == urlsplit(page_url).hostname:
        return options
    return RequestOptions(user_agent=options.user_agent)


def add_full_text(
    articles: Sequence[NormalizedArticle],
    *,
    feed_url: str,
    settings: Settings,
    options: RequestOptions,
    budget: float,
) -> list[NormalizedArticle]:
    """The articles with their page's text, fetched one at a time within
    ``budget`` seconds and ``full_text.max_pages_per_poll`` pages."""
    limits = settings.full_text
    deadline = time.monotonic() + budget
    fetched = 0
    out: list[NormalizedArticle] = []
    for article in articles:
        left = deadline - time.monotonic()
        if not article.link:
            out.append(replace(article, body_note="full text: the item has no link"))
            continue
        if fetched >= limits.max_pages_per_poll or left < 1.0:
            out.append(replace(article, body_note="full text: not fetched, the poll's page budget ran out"))
            continue
        fetched += 1
        out.append(_with_page(article, article.link, feed_url, settings, options, left))
    return out


def _with_page(
    article: NormalizedArticle,
    link: str,
    feed_url: str,
    settings: Settings,
    options: RequestOptions,
    left: float,
) -> NormalizedArticle:
    limits = settings.full_text
    fetch_settings = settings.fetch.model_copy(update={"timeout": min(settings.fetch.timeout, left)})
    try:
        page = fetch_page(
            link,
            settings=fetch_settings,
            max_bytes=limits.max_page_bytes,
            options=_page_options(feed_url, link, options),
        )
        text = extract_main_text(page.body, page.url)
    except FetchError as exc:
        log.info("full text of %s not fetched: %s", redact_url(link), exc)
        return replace(article, body_note=f"full text: page not fetched: {exc}"[:NOTE_MAX])
    except Exception as exc:  # an extractor failure on a hostile page costs only the body
        log.warning("full text of %s not extracted: %s: %s", redact_url(link), type(exc).__name__, exc)
        return replace(article, body_note=f"full text: not extracted: {type(exc).__name__}"[:NOTE_MAX])
    if not text:
        return replace(article, body_note="full text: no main text found on the page")
    body = text[: limits.store_chars]
    return replace(
        article, body=body, body_note=f"full text: {len(text):,} characters from the article's page"
    )


def full_text_of_new(
    session_factory: sessionmaker[Session],
    settings: Settings,
    lease: FeedLease,
    options: RequestOptions,
    articles: list[NormalizedArticle],
    budget: float,
) -> list[NormalizedArticle]:
    """The articles of a poll, the new ones with their page's text (the
    pages of articles already stored are not fetched again)."""
    with session_factory() as session:
        known = known_item_keys(session, lease.feed_id, [a.item_key for a in articles])
    new = [a for a in articles if a.item_key not in known]
    if not new:
        return articles
    enriched = {
        a.item_key: a
        for a in add_full_text(new, feed_url=lease.url, settings=settings, options=options, budget=budget)
    }
    return [enriched.get(a.item_key, a) for a in articles]
