"""The learned topic model: loading the artifact and scoring articles.

Per topic, as ``monitor learn`` learned it (:mod:`monitor.matching.learn`):

* a **gate**, the cheap first stage: its terms in English and French (one
  rare term, or two of its common ones, open it), or, for the shipped topics
  with our lexicon, conjunctions of vocabulary groups. An article whose words
  open no topic's gate is not embedded at all and scores 0 everywhere;
* its **classifier** (:mod:`monitor.matching.classifier`) on the article's
  multilingual vector, with the language direction projected out;
* its **defining facets** (:mod:`monitor.matching.facets`): an article must
  be about each of them;
* a **calibrated center**: ``score = sigmoid((raw - center) / temperature)``,
  so the default threshold is 0.5 for every topic.

Evidence for each scored (article, topic): the topic's terms found, the
nearest kept seed passage, the parts of the score and a one-line reason.
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
from monitor.matching.classifier import Classifier
from monitor.matching.embed import DIM, embed
from monitor.matching.facets import about
from monitor.matching.keywords import TermIndex, pad

FORMAT = 2
QUANT_SCALE = 512.0
# Two of a topic's evidence words, each too common to open its gate alone
# ("patients" and "données"), open it together.
EVIDENCE_TERMS_TO_OPEN = 2

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


def _stem(term: str) -> str:
    """Singular and plural as one word, for counting distinct terms."""
    word = term.casefold()
    for ending in ("aux", "es", "s", "x"):
        if word.endswith(ending) and len(word) > len(ending) + 3:
            return word[: -len(ending)]
    return word


@dataclass(frozen=True)
class TopicParams:
    id: str
    name: str
    classifier: Classifier
    center: float
    curated_gate: tuple[tuple[str, ...], ...]
    evidence: tuple[tuple[str, ...], ...]  # conjunctions of groups
    facets: tuple[tuple[Matrix, float, float], ...]  # direction, ordinary mean and spread
    facet_terms: tuple[tuple[str, ...], ...]
    passages: Matrix
    passage_meta: tuple[tuple[str, int], ...]


class TopicModel:
    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("format") != FORMAT:
            raise ModelError(
                f"unsupported model format {data.get('format')!r} (expected {FORMAT}): run `monitor learn`"
            )
        self.data = data
        self.version: str = str(data["version"])
        self.knobs: dict[str, float] = {k: float(v) for k, v in data["knobs"].items()}
        self.axes = np.vstack([decode_vector(a) for a in data["language_axes"]]).astype(np.float32)
        ordinary = self._ordinary(data)
        self.index = TermIndex()
        for group, terms in sorted((data.get("groups") or {}).items()):
            for term in terms:
                self.index.add(term, ("group", group))
        self.topics: dict[str, TopicParams] = {}
        for topic in data["topics"]:
            self.topics[topic["id"]] = self._topic(topic, ordinary)
            for lang_terms in topic["vocabulary"].values():
                if not topic.get("curated_gate"):
                    for term in lang_terms["gate_forms"]:
                        self.index.add(term, ("gate", topic["id"]))
                for term in lang_terms["evidence_forms"]:
                    self.index.add(term, ("evidence", topic["id"]))
        # Which topics a group can let through, so an article's gate check
        # visits only the topics its words concern.
        self._gated_by: dict[str, list[str]] = {}
        for topic_id, params in self.topics.items():
            for group in dict.fromkeys(g for conj in params.curated_gate for g in conj):
                self._gated_by.setdefault(group, []).append(topic_id)
        self.topic_ids = list(self.topics)

    def _ordinary(self, data: dict[str, Any]) -> Matrix:
        """The shipped ordinary news, as the model was learned against it."""
        from monitor.matching.background import background_digest, load_background

        if data.get("background") != background_digest():
            raise ModelError(
                "the topic model was learned against other ordinary-news vectors than the ones "
                "installed: run `monitor learn`"
            )
        return project_out(load_background().vectors, self.axes)

    def _topic(self, topic: dict[str, Any], ordinary: Matrix) -> TopicParams:
        c = topic["classifier"]
        prototypes = topic["prototypes"]
        bits = np.unpackbits(np.frombuffer(base64.b64decode(prototypes["background"]), dtype=np.uint8))
        mask = bits[: len(ordinary)].astype(bool)
        classifier = Classifier(
            formula=str(topic["formula"]),
            w=decode_vector(c["w"]),
            b=float(c["b"]),
            description=decode_vector(c["description"]),
            scale={
                k: float(c[k]) for k in ("lr_mean", "lr_std", "desc_mean", "desc_std", "knn_mean", "knn_std")
            },
            positives=dequantize(prototypes["positive"]),
            negatives=dequantize(prototypes["negative"]),
            passages=dequantize(prototypes["passages"]),
            other_passages=dequantize(prototypes["other_passages"]),
            knobs=self.knobs,
            ordinary=ordinary,
            ordinary_mask=mask,
        )
        return TopicParams(
            id=topic["id"],
            name=topic["name"],
            classifier=classifier,
            center=float(c["center"]),
            curated_gate=tuple(tuple(conj) for conj in topic.get("curated_gate") or ()),
            evidence=tuple(tuple(conj) for conj in topic.get("evidence") or ()),
            facets=tuple((decode_vector(f["v"]), float(f["mean"]), float(f["std"])) for f in topic["facets"]),
            facet_terms=tuple(tuple(f.get("terms", ())) for f in topic["facets"]),
            passages=dequantize([p["v"] for p in topic["passages"]]),
            passage_meta=tuple((str(p["seed"]), int(p["passage"])) for p in topic["passages"]),
        )

    def has_topic(self, topic_id: str) -> bool:
        return topic_id in self.topics

    # -- the gate -------------------------------------------------------------------

    def term_hits(self, normalized: str) -> dict[Any, list[str]]:
        found: dict[Any, list[str]] = self.index.find(pad(normalized))
        return found

    def _candidates(self, hits: dict[Any, list[str]], wanted: set[str] | frozenset[str]) -> set[str]:
        """The topics in ``wanted`` whose gates an article with these hits opens."""
        seen: set[str] = set()
        groups = {key[1] for key in hits if key[0] == "group"}
        for (kind, name), found in hits.items():
            if kind == "gate" and name in wanted:
                seen.add(name)
            elif kind == "evidence" and name in wanted and not self.topics[name].curated_gate:
                if len({_stem(term) for term in found}) >= EVIDENCE_TERMS_TO_OPEN:
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

    # -- scoring ----------------------------------------------------------------------

    def prepare(self, vectors: Matrix) -> Matrix:
        """Article vectors as the classifiers read them (language direction out)."""
        return project_out(vectors, self.axes)

    @staticmethod
    def has_evidence(params: TopicParams, hits: dict[Any, list[str]]) -> bool:
        groups = {key[1] for key in hits if key[0] == "group"}
        return any(all(g in groups for g in conj) for conj in params.evidence)

    def score(
        self,
        texts: Sequence[str],
        normalized: Sequence[str],
        topic_ids: Sequence[str],
        languages: Sequence[str | None] | None = None,
        vectors: Matrix | None = None,
    ) -> list[dict[str, LearnedScore]]:
        """Per text, per topic: its score (``vectors``, when given, are the
        texts' embeddings: none is computed again)."""
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
            evidence = np.array(
                [self.has_evidence(params, hits[todo[row]]) for row in rows], dtype=np.float64
            )
            raws = params.classifier.raw(sub) + params.classifier.evidence_weight * evidence
            on_topic = about(sub, params.facets, self.knobs["facet_min_z"])
            for k, row in enumerate(rows):
                out[todo[row]][topic_id] = self._explain(
                    params, float(raws[k]), bool(on_topic[k]), sub[k], hits[todo[row]]
                )
        return out

    def _explain(
        self, params: TopicParams, raw: float, on_topic: bool, vector: Matrix, hits: dict[Any, list[str]]
    ) -> LearnedScore:
        temperature = params.classifier.temperature
        z = (raw - params.center) / temperature
        score = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z)))) if on_topic else 0.0
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
                "linear": round(float(vector @ params.classifier.w + params.classifier.b), 4),
                "description": round(float(vector @ params.classifier.description), 4),
                "raw": round(raw, 4),
                "center": round(params.center, 4),
                "facets": on_topic,
            },
        }
        return LearnedScore(score, 0.5, self._reason(params, score, on_topic, passage, terms), evidence)

    @staticmethod
    def _reason(
        params: TopicParams, score: float, on_topic: bool, passage: dict[str, Any], terms: list[str]
    ) -> str:
        words = f"terms {', '.join(terms[:5])}" if terms else "no topic terms"
        if not on_topic:
            sides = " and ".join(f"({', '.join(t[:3])}, …)" for t in params.facet_terms)
            return f"not about all of the topic: it needs both {sides}; {words}"
        near = f"seed {passage['seed']} passage {passage['passage']}" if passage else "the description"
        if passage and passage["passage"] == 0:
            near = f"seed {passage['seed']} (headline and lead)"
        if score >= 0.5:
            return f"close to {near}; {words}"
        return f"not close enough to the topic (nearest: {near}); {words}"


def topic_summary(entry: dict[str, Any], version: str) -> dict[str, Any]:
    """What a person (or a program) wants to know of one learned topic (an
    entry of the artifact's ``topics``): ``monitor topics show --json``, the
    Topics page and ``/api/v1/topics`` all show this dict."""
    seeds = entry["seeds"]
    return {
        "id": entry["id"],
        "name": entry["name"],
        "model_version": version,
        "threshold": 0.5,
        "center": entry["classifier"]["center"],
        "seeds": seeds,
        "passages_kept": sum(s["kept"] for s in seeds),
        "passages": sum(s["passages"] for s in seeds),
        "negatives": entry.get("negatives", 0),
        "gate": {lang: v["gate"] for lang, v in entry["vocabulary"].items()},
        "evidence": {lang: v["evidence"] for lang, v in entry["vocabulary"].items()},
        "pairs": entry.get("pairs", []),
        "curated_gate": entry.get("curated_gate") or [],
    }


def load_model(path: Path) -> TopicModel | None:
    """The artifact at ``path``, or None when there is none."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the topic model: {exc}") from exc
    return TopicModel(data)
