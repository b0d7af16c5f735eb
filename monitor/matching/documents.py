"""Seed and negative articles as users save them: text, Markdown or HTML files.

A user saves an article from a web page by copy-paste or "save as", so a
file carries the page around the article: menus, breadcrumbs, bylines,
"newsletter" boxes, share buttons, "read also" links, tag lists. None of
that may become topic vocabulary. :func:`article_text` keeps what reads as
the article: its headline and its prose paragraphs.

The rules are structural, not word lists, so they hold in any language:

* a **prose paragraph** is a block of at least ``PROSE_MIN_WORDS`` words or
  of two sentences or more, that ends like a sentence and is not a list of
  short items joined by separators (``|``, ``·``, ``›``, ``•``);
* the **headline** is the first line of at least ``TITLE_MIN_WORDS`` words
  that is not made of separators and does not end with a colon;
* a block that begins with a short label and a colon (``Tags :``,
  ``Read more:``, ``Lire aussi :``) is a pointer to elsewhere, not prose;
* a line that appears in two files or more of the same set is page
  furniture of a site (a newsletter pitch, a footer), not article text.

HTML is read with the standard library's parser: ``nav``, ``header``,
``footer``, ``aside``, ``form``, ``script``, ``style``, ``figure`` and
elements whose class or id says menu, share, related, newsletter, comment,
cookie or breadcrumb are dropped; block elements become paragraphs.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
PROSE_MIN_WORDS = 25
TITLE_MIN_WORDS = 4
TITLE_MAX_WORDS = 30
# A block with a separator every few words is a list (a menu, tags, a breadcrumb).
SEPARATOR_WORDS = 6
MAX_FILE_BYTES = 2 * 1024 * 1024
FUNCTION_WORD_LANGUAGES = ("en", "fr", "es", "de", "it", "pt", "nl")
FUNCTION_WORDS_PER_LANGUAGE = 40

_SEPARATORS = re.compile(r"\s[|·•›»>]\s|\s[|·•›]|[|·•›]\s")
_SENTENCE_END = re.compile(r"[.!?…»\"”)]\s*$")
_SENTENCE_SPLIT = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"”»)]))\s+(?=[«\"“A-ZÀ-ÖØ-Þ0-9])")
_LABEL_PREFIX = re.compile(r"^[^\s:]+(?:\s+[^\s:]+){0,3}\s*:\s+\S")
_DATE_LIKE = re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b|\b\d{1,2}[h:]\d{2}\b")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_SEPARATOR_RUN = re.compile(r"(?:\s[|·•›]){1,}\s")
LONG_LINE_WORDS = 60


@lru_cache(maxsize=1)
def _function_words() -> frozenset[str]:
    """The most frequent words of the languages we read (articles,
    prepositions, pronouns): wordfreq's lists, the same for every topic."""
    from wordfreq import top_n_list

    words: set[str] = set()
    for lang in FUNCTION_WORD_LANGUAGES:
        words.update(w for w in top_n_list(lang, FUNCTION_WORDS_PER_LANGUAGE) if _WORD.fullmatch(w))
    return frozenset(words)


def has_function_word(text: str) -> bool:
    words = _function_words()
    return any(w.casefold() in words for w in _WORD.findall(text))


class DocumentError(Exception):
    """A seed or negative file that cannot be read; the message names it."""


@dataclass(frozen=True)
class Article:
    """The article kept from one file: its headline and prose paragraphs."""

    source: str  # the file name, as shown to people
    title: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n\n".join([self.title, *self.paragraphs] if self.title else self.paragraphs)

    @property
    def lead(self) -> str:
        """Headline and first paragraph: what a feed item carries."""
        first = self.paragraphs[0] if self.paragraphs else ""
        return f"{self.title}. {first}".strip(". ") if self.title else first


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files named, and the article files of folders named, in a stable order."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES))
        elif path.is_file():
            out.append(path)
        else:
            raise DocumentError(f"{path}: no such file or folder")
    return list(dict.fromkeys(out))


def read_articles(paths: Sequence[Path]) -> list[Article]:
    """Each file's article, with lines shared by several files removed."""
    raw: list[tuple[Path, list[str]]] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DocumentError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        if len(data) > MAX_FILE_BYTES:
            raise DocumentError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, not an article")
        text = data.decode("utf-8", errors="replace")
        suffix = path.suffix.lower()
        if suffix in (".html", ".htm") or _looks_like_html(text):
            blocks = html_blocks(text)
        elif suffix in (".md", ".markdown"):
            blocks = text_blocks(markdown_to_text(text))
        else:
            blocks = text_blocks(text)
        raw.append((path, blocks))
    shared = _shared_lines([blocks for _, blocks in raw])
    articles = []
    for path, blocks in raw:
        kept = [b for b in blocks if _norm_line(b) not in shared]
        articles.append(article_from_blocks(path.name, kept))
    return articles


def article_from_blocks(source: str, blocks: Sequence[str]) -> Article:
    """The headline (the longest title-like line before the first paragraph)
    and the prose paragraphs."""
    paragraphs = [b for b in blocks if is_prose(b)]
    first = blocks.index(paragraphs[0]) if paragraphs else len(blocks)
    candidates = [b for b in blocks[:first] if _is_title(b)]
    title = max(candidates, key=lambda b: len(b.split()), default="")
    return Article(source, title, tuple(paragraphs))


def is_prose(block: str) -> bool:
    words = block.split()
    if not words or _separator_count(block) * SEPARATOR_WORDS >= len(words):
        return False
    if _LABEL_PREFIX.match(block) and len(words) < PROSE_MIN_WORDS * 2:
        return False
    if not _SENTENCE_END.search(block):
        return False
    return len(words) >= PROSE_MIN_WORDS or (len(split_sentences(block)) >= 2 and len(words) >= 12)


PASSAGE_MIN_WORDS = 45
PASSAGE_MAX_WORDS = 110


def split_passages(text: str) -> list[str]:
    """Passages of about a paragraph: sentences taken in order and grouped
    until a passage holds ``PASSAGE_MIN_WORDS`` words (never more than
    ``PASSAGE_MAX_WORDS`` unless one sentence is longer). Deterministic, so a
    passage number names the same text every time."""
    passages: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in split_sentences(text):
        words = len(sentence.split())
        if current and count + words > PASSAGE_MAX_WORDS and count >= PASSAGE_MIN_WORDS // 2:
            passages.append(" ".join(current))
            current, count = [], 0
        current.append(sentence)
        count += words
        if count >= PASSAGE_MIN_WORDS:
            passages.append(" ".join(current))
            current, count = [], 0
    if current:
        if passages and count < PASSAGE_MIN_WORDS // 3:
            passages[-1] = passages[-1] + " " + " ".join(current)
        else:
            passages.append(" ".join(current))
    return passages


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s.strip()]


def _is_title(block: str) -> bool:
    """A headline: a few words, no separators, no date, not a list item, not
    a sentence ending in a full stop, and at least one function word (a menu
    of section names has none)."""
    words = block.split()
    return (
        TITLE_MIN_WORDS <= len(words) <= TITLE_MAX_WORDS
        and _separator_count(block) == 0
        and not block.rstrip().endswith((":", "."))
        and not block.lstrip().startswith(("-", "*", "•", "–"))
        and not _DATE_LIKE.search(block)
        and has_function_word(block)
    )


def _separator_count(block: str) -> int:
    return len(_SEPARATORS.findall(block))


def _norm_line(line: str) -> str:
    return " ".join(line.casefold().split())


def _shared_lines(files: Sequence[Sequence[str]]) -> set[str]:
    """Lines present in two files or more (page furniture of a site)."""
    if len(files) < 2:
        return set()
    counts = Counter(line for blocks in files for line in {_norm_line(b) for b in blocks})
    return {line for line, n in counts.items() if n >= 2}


def text_blocks(text: str) -> list[str]:
    """Non-empty lines, whitespace collapsed (a pasted page has a paragraph a
    line). A page pasted as one long line is cut at its separators
    (``headline | | body | | footer``) so each part is judged on its own."""
    blocks: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = " ".join(line.split())
        if not line:
            continue
        parts = _SEPARATOR_RUN.split(line) if len(line.split()) > LONG_LINE_WORDS else [line]
        blocks.extend(p.strip() for p in parts if p.strip())
    return blocks


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_MARKUP = re.compile(r"(^\s{0,3}(#{1,6}|>|[-*+]|\d+[.)])\s+)|[*_`]{1,3}", re.MULTILINE)


def markdown_to_text(text: str) -> str:
    text = _MD_LINK.sub(r"\1", text)
    return _MD_MARKUP.sub(lambda m: "- " if m.group(2) in ("-", "*", "+") else "", text)


def _looks_like_html(text: str) -> bool:
    head = text[:2000].lower()
    return "<html" in head or "<!doctype html" in head or ("<p>" in head and "</p>" in head)


_DROP_TAGS = {"nav", "header", "footer", "aside", "form", "script", "style", "figure", "noscript", "button"}
_DROP_HINT = re.compile(
    r"menu|share|social|related|newsletter|comment|cookie|breadcrumb|subscribe|promo|advert|footer|sidebar"
)
_BLOCK_TAGS = {
    "p",
    "div",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "br",
    "section",
    "article",
    "tr",
    "blockquote",
}
_VOID = {"br", "img", "hr", "meta", "link", "input", "source", "wbr"}


class _BlockParser(HTMLParser):
    """Text blocks of a page, without the regions that are page furniture.

    A dropped region ends at the end tag matching the one that opened it
    (counting nested elements of the same name), which survives the
    unclosed ``<p>`` and ``<li>`` of real pages.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._buffer: list[str] = []
        self._skip_tag: str | None = None
        self._skip_nesting = 0

    def _flush(self) -> None:
        text = " ".join("".join(self._buffer).split())
        if text:
            self.blocks.append(text)
        self._buffer = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag in _VOID:
            return
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_nesting += 1
            return
        hint = " ".join(v or "" for k, v in attrs if k in ("class", "id", "role")).lower()
        if tag in _DROP_TAGS or (hint and _DROP_HINT.search(hint)):
            self._skip_tag, self._skip_nesting = tag, 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self._flush()
        if self._skip_tag == tag:
            self._skip_nesting -= 1
            if self._skip_nesting == 0:
                self._skip_tag = None

    def handle_data(self, data: str) -> None:
        if self._skip_tag is None:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_blocks(html: str) -> list[str]:
    parser = _BlockParser()
    parser.feed(html)
    parser.close()
    return parser.blocks
