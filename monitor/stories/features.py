"""What story grouping compares, taken from an article's text: its names and
numbers (language-independent evidence of *which* event), a key of its
link and of its title (cheap near-duplicate signals), and its vector in a
compact form (int8 with a scale: 384 bytes a member instead of 1,536).

Names are the capitalised words that are not at the start of a sentence
(``Oppenheimer``, ``SAG-AFTRA``, ``Disney's`` -> ``disney``), words with
inner capitals or digits, and numbers that are not years (``98 %`` ->
``#98``). They are folded (lower case, no accents) so that an English and a
French report of one event share them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from monitor.matching.text import normalize, sentences, strip_accents

_WORD = re.compile(r"[0-9A-Za-zÀ-ÖØ-öø-ÿ][\w'’\-.+&]*")
_ELISION = re.compile(r"^(?:l|d|qu|j|n|s|c|m|t)['’]", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s?$", re.IGNORECASE)
_NUMBER = re.compile(r"^(\d+(?:[.,]\d+)?)(?:%|e|er|ème|th|st|nd|rd|m|bn|k|-\w+)?$", re.IGNORECASE)
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_DIGIT = re.compile(r"\d")

# Capitalised words that name nothing: function words, days, months, and
# words every entertainment/AI story capitalises in both languages.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "by",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "his",
        "her",
        "their",
        "our",
        "your",
        "my",
        "we",
        "you",
        "he",
        "she",
        "they",
        "i",
        "le",
        "la",
        "les",
        "un",
        "une",
        "des",
        "du",
        "de",
        "et",
        "ou",
        "mais",
        "en",
        "au",
        "aux",
        "sur",
        "pour",
        "par",
        "avec",
        "dans",
        "ce",
        "cette",
        "ces",
        "son",
        "sa",
        "ses",
        "leur",
        "leurs",
        "il",
        "elle",
        "ils",
        "elles",
        "on",
        "nous",
        "vous",
        "je",
        "qui",
        "que",
        "dont",
        "ou",
        "apres",
        "avant",
        "selon",
        "depuis",
        "pendant",
        "lors",
        "chez",
        "contre",
        "entre",
        "sans",
        "sous",
        "vers",
        "plus",
        "moins",
        "tres",
        "aussi",
        "encore",
        "deja",
        "toujours",
        "jamais",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "lundi",
        "mardi",
        "mercredi",
        "jeudi",
        "vendredi",
        "samedi",
        "dimanche",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "janvier",
        "fevrier",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "aout",
        "septembre",
        "octobre",
        "novembre",
        "decembre",
        "mr",
        "mrs",
        "ms",
        "mme",
        "ai",
        "ia",
    ]
)


@lru_cache(maxsize=65536)
def fold(word: str) -> str:
    return strip_accents(word).lower()


@dataclass(frozen=True)
class ArticleSignals:
    names: frozenset[str]  # names and numbers of the title and summary
    title_names: frozenset[str]  # those of the title alone
    link_key: str | None
    title_key: str


def _clean(token: str) -> str:
    token = _ELISION.sub("", token.strip(".'’-+&"))
    return _POSSESSIVE.sub("", token).strip(".'’-")


def _scan(text: str) -> tuple[set[str], list[str], set[str]]:
    """(sure names and numbers, sentence-initial capitalised words,
    words capitalised inside a sentence) of ``text``."""
    found: set[str] = set()
    initial: list[str] = []
    capitalised_later: set[str] = set()
    for sentence in sentences(text):
        for position, raw in enumerate(_WORD.findall(sentence)):
            token = _clean(raw)
            if not token:
                continue
            number = _NUMBER.match(token)
            if number and token[0].isdigit():
                value = number.group(1).replace(",", ".")
                if not _YEAR.match(value):
                    found.add(f"#{value}")
                continue
            folded = fold(token)
            if len(folded) < 2 or folded in STOPWORDS:
                continue
            if token[1:] != token[1:].lower() or _DIGIT.search(token):
                found.add(folded)
            elif token[0].isupper():
                # A sentence's first word is a name only if the text also
                # capitalises it elsewhere ("Tom Hanks warns ... Hanks said").
                if position == 0:
                    initial.append(folded)
                else:
                    capitalised_later.add(folded)
    return found, initial, capitalised_later


def names_and_numbers(text: str, context: str = "") -> set[str]:
    """Folded names (``sag-aftra``) and numbers (``#98``) of ``text``; a
    sentence-initial word counts when ``text`` or ``context`` capitalises
    it inside a sentence."""
    found, initial, later = _scan(text)
    known = later | _scan(context)[2] if context else later
    return found | later | {word for word in initial if word in known}


def title_key(title: str) -> str:
    return hashlib.sha256(normalize(title).encode()).hexdigest()[:32]


def link_key(link: str | None) -> str | None:
    """The link without its scheme and a leading ``www.`` (links are
    stored canonical already: no tracking parameters, no fragment)."""
    if not link:
        return None
    key = re.sub(r"^https?://(?:www\.)?", "", link.strip(), flags=re.IGNORECASE).rstrip("/")
    return key[:512] or None


def signals(title: str, summary: str, link: str | None) -> ArticleSignals:
    # One scan of each text; a sentence-initial word of either is a name
    # when either capitalises it inside a sentence.
    title_found, title_initial, title_later = _scan(title)
    body_found, body_initial, body_later = _scan(summary)
    known = title_later | body_later
    title_names = title_found | title_later | {word for word in title_initial if word in known}
    body_names = body_found | body_later | {word for word in body_initial if word in known}
    return ArticleSignals(
        names=frozenset(title_names | body_names),
        title_names=frozenset(title_names),
        link_key=link_key(link),
        title_key=title_key(title),
    )


Vector = npt.NDArray[np.float32]


def quantize(vector: Vector) -> tuple[bytes, float]:
    """int8 bytes and the scale that restores them (``q * scale / 127``)."""
    peak = float(np.max(np.abs(vector))) if vector.size else 0.0
    if peak == 0.0:
        return bytes(len(vector)), 0.0
    codes = np.clip(np.rint(vector / peak * 127.0), -127, 127).astype(np.int8)
    return codes.tobytes(), peak


def dequantize(data: bytes, scale: float) -> Vector:
    """The unit vector back (the quantisation error changes cosines by < 0.002)."""
    vector = np.frombuffer(data, dtype=np.int8).astype(np.float32) * np.float32(scale / 127.0)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
