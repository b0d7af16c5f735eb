"""Ordinary news: what a topic is learned against.

A watch topic is learned from a few articles about it; to know what is
*not* the topic, the learner needs ordinary news. ``data/background.jsonl``
holds 300 general news items in our own words (30 sections of a general
wire, 10 items each: politics, courts, economy, sport, science, culture,
weather, …), each written in English and in French saying the same thing.

They serve twice:

* as the negatives of every topic's classifier (less the few that are
  close to the topic's own seeds: a general wire may well carry a story
  on any topic, and such an item is not a reliable negative);
* as parallel pairs: the difference between an item's French and English
  vectors is mostly "this is French". Its main direction
  (:func:`language_axes`) is projected out of every vector, so a French
  seed and an English article about the same thing score alike.

The vectors are precomputed (``background.npz``, built with the
vocabulary table by ``scripts/build_vocabulary.py``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from monitor.matching.embed import DIM, embed
from monitor.matching.vocabulary import dequantize, quantize

DATA_DIR = Path(__file__).resolve().parent / "data"
CORPUS_FILE = "background.jsonl"
VECTORS_FILE = "background.npz"
LANGUAGE_AXES = 1

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Background:
    ids: list[str]
    sections: list[str]
    en: Matrix
    fr: Matrix

    @property
    def vectors(self) -> Matrix:
        return np.vstack([self.en, self.fr])


def read_corpus(path: Path | None = None) -> list[dict[str, str]]:
    source = path or DATA_DIR / CORPUS_FILE
    return [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_vectors() -> dict[str, npt.NDArray[np.generic]]:
    items = read_corpus()
    return {
        "ids": np.array("\n".join(i["id"] for i in items)),
        "sections": np.array("\n".join(i["section"] for i in items)),
        "en": quantize(embed([i["en"] for i in items])),
        "fr": quantize(embed([i["fr"] for i in items])),
    }


@lru_cache(maxsize=1)
def load_background() -> Background:
    with np.load(DATA_DIR / VECTORS_FILE) as data:
        background = Background(
            ids=str(data["ids"]).split("\n"),
            sections=str(data["sections"]).split("\n"),
            en=dequantize(data["en"]),
            fr=dequantize(data["fr"]),
        )
    if background.en.shape != (len(background.ids), DIM) or background.fr.shape != background.en.shape:
        raise ValueError(f"{DATA_DIR / VECTORS_FILE}: vectors do not match the corpus")
    return background


@lru_cache(maxsize=1)
def background_digest() -> str:
    """The sha256 of the shipped vectors: a model names the ordinary news it
    was learned against, and refuses other vectors."""
    return hashlib.sha256((DATA_DIR / VECTORS_FILE).read_bytes()).hexdigest()


def language_axes(background: Background, k: int = LANGUAGE_AXES) -> Matrix:
    """The ``k`` main directions of (French - English) over the parallel pairs."""
    differences = background.fr - background.en
    _, _, vt = np.linalg.svd(differences, full_matrices=False)
    axes: Matrix = vt[:k].astype(np.float32)
    return axes


def project_out(vectors: Matrix, axes: Matrix) -> Matrix:
    """Vectors without their component along ``axes``, unit length again."""
    if len(axes) == 0:
        return vectors
    rest = vectors - (vectors @ axes.T) @ axes
    norms = np.linalg.norm(rest, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Matrix = (rest / norms).astype(np.float32)
    return out
