"""Text normalisation shared by the keyword stage, the seeds and the model.

Matching is case- and accent-insensitive and works on whole words, so every
text and every keyword goes through :func:`normalize`: lower case, accents
stripped (``grève`` -> ``greve``), typographic apostrophes and punctuation
turned into spaces (``l'IA`` -> ``l ia``), runs of spaces collapsed.
"""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^0-9a-z]+")
_SENTENCE_END = re.compile(r"(?<=[.!?…»\"])\s+(?=[«\"A-ZÀ-ÖØ-Þ0-9])")
_SPACES = re.compile(r"\s+")


def strip_accents(text: str) -> str:
    if text.isascii():  # nothing to strip: the common case, at no cost
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize(text: str) -> str:
    """Lower case, no accents, words separated by single spaces, no padding."""
    folded = strip_accents(text.casefold()).replace("œ", "oe").replace("æ", "ae")
    return _NON_WORD.sub(" ", folded).strip()


def tokens(text: str) -> list[str]:
    normalized = normalize(text)
    return normalized.split(" ") if normalized else []


def clean_spaces(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def sentences(text: str) -> list[str]:
    """Split running text into sentences (a simple, deterministic splitter)."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n|\n", text):
        block = clean_spaces(block)
        if not block:
            continue
        out.extend(part for part in _SENTENCE_END.split(block) if part.strip())
    return out
