"""``monitor learn``: learn every configured topic from its own inputs.

A topic is what a user writes in the config: an id, a name, a one-sentence
description, a few saved articles (``seeds``) and, optionally, articles
that look close but are not the topic (``negatives``). Stored feedback
adds judged articles. For each topic, learn:

1. reads the seed files as they were saved (:mod:`monitor.matching.documents`
   keeps the headline and prose, not the page around it) and cuts them into
   passages;
2. keeps the passages about the topic: closer to the description than
   almost all ordinary news (a seed about a strike that mentions digital
   doubles in one paragraph gives the digital-doubles topic that paragraph);
3. learns the topic's vocabulary in English and French
   (:mod:`monitor.matching.terms`): the gate terms and the evidence terms;
4. trains a linear classifier on the multilingual vectors, with the
   language direction projected out: the kept passages, the seed leads and
   the description against ordinary news (:mod:`monitor.matching.background`),
   the other topics' passages, the negatives and the feedback;
5. calibrates the threshold on out-of-fold scores (see :func:`calibrate`).

Optionally, our hand-written lexicon and examples for the three shipped
topics (``curated`` in the config) add gates and examples; ``--no-lexicon``
learns without them.

The artifact is JSON, written with sorted keys and no timestamps; its
version is the sha256 of the canonical inputs (texts' sha256, knobs,
descriptions, feedback), so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from monitor.config import TopicConfig
from monitor.matching.background import Background, language_axes, load_background, project_out, read_corpus
from monitor.matching.documents import Article, DocumentError, expand_paths, read_articles, split_passages
from monitor.matching.embed import MODEL_NAME, embed
from monitor.matching.terms import Relevance, TopicVocabulary, facets, inflections, learn_vocabulary
from monitor.matching.text import sentences
from monitor.matching.vocabulary import LANGUAGES, load_vocabulary, unique

FORMAT = 2
KNOBS: dict[str, float] = {
    # a seed passage is kept when it is closer to the description than this
    # share of ordinary news items
    "keep_quantile": 0.95,
    # an ordinary news item is a negative unless it is closer to the topic
    # than this share of the topic's own passages
    "reliable_negative_quantile": 0.1,
    "l2": 1.0,  # ridge of the classifier (on the summed sample weights)
    "description_weight": 1.0,  # of the description similarity in the raw score
    "folds": 5,
    "knn_k": 3,
    "knn_weight": 0.0,  # of (top-k similarity to positives - to negatives), in units of its spread
    "evidence_weight": 0.0,  # added when the topic's evidence (curated conjunctions) is in the text
    "temperature": 0.25,
}
Matrix = npt.NDArray[np.float32]
Progress = Callable[[int, int], None]


class LearnError(Exception):
    """Inputs learn cannot use; the message names the topic and the file."""


@dataclass(frozen=True)
class FeedbackExample:
    article_id: int
    topic_id: str
    relevant: bool
    text: str


@dataclass(frozen=True)
class Curated:
    """Our optional hand-written additions (lexicon groups and gates, short examples)."""

    groups: dict[str, list[str]]
    topics: dict[str, dict[str, Any]]
    examples: list[dict[str, Any]]
    sha256: str

    def gate(self, topic_id: str) -> list[list[str]]:
        spec = self.topics.get(topic_id) or {}
        return [[str(c)] if isinstance(c, str) else [str(g) for g in c] for c in spec.get("gate") or []]

    def evidence(self, topic_id: str) -> list[list[str]]:
        spec = self.topics.get(topic_id) or {}
        return [[str(g) for g in c] for c in spec.get("evidence") or []]


def load_curated(lexicon: Path | None, examples: Path | None) -> Curated | None:
    if lexicon is None and examples is None:
        return None
    digest = hashlib.sha256()
    groups: dict[str, list[str]] = {}
    topics: dict[str, dict[str, Any]] = {}
    items: list[dict[str, Any]] = []
    for path in (p for p in (lexicon, examples) if p is not None):
        try:
            raw = path.read_bytes()
            data = yaml.safe_load(raw) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise LearnError(f"{path}: cannot read: {exc}") from None
        if not isinstance(data, dict):
            raise LearnError(f"{path}: expected a mapping")
        digest.update(raw)
        groups.update({str(g): [str(t) for t in terms] for g, terms in (data.get("groups") or {}).items()})
        topics.update({str(k): dict(v or {}) for k, v in (data.get("topics") or {}).items()})
        items.extend(data.get("examples") or [])
    for topic_id in topics:
        for conj in [*Curated(groups, topics, [], "").gate(topic_id), *Curated(groups, topics, [], "").evidence(topic_id)]:
            for group in conj:
                if group not in groups:
                    raise LearnError(f"{lexicon}: topic {topic_id} uses undefined group {group!r}")
    return Curated(groups, topics, items, digest.hexdigest())


@dataclass(frozen=True)
class Passage:
    source: str  # seed file name
    number: int  # 0: the lead (headline and first paragraph); 1..n: passages
    text: str
    lang: str | None


@dataclass
class TopicInputs:
    topic: TopicConfig
    seeds: list[Article]
    negatives: list[Article]
    seed_files: list[Path]
    negative_files: list[Path]
    passages: list[Passage] = field(default_factory=list)
    negative_passages: list[Passage] = field(default_factory=list)


def article_passages(article: Article) -> list[Passage]:
    from monitor.ingest.normalize import detect_language

    lang = detect_language(article.text)
    out = [Passage(article.source, 0, article.lead, lang)] if article.title and article.paragraphs else []
    body = "\n".join(article.paragraphs)
    out.extend(Passage(article.source, i, text, lang) for i, text in enumerate(split_passages(body), 1))
    return out


def read_inputs(topic: TopicConfig, resolve: Callable[[str], Path]) -> TopicInputs:
    try:
        seed_files = expand_paths([resolve(p) for p in topic.seeds])
        negative_files = expand_paths([resolve(p) for p in topic.negatives])
        seeds = read_articles(seed_files)
        negatives = read_articles(negative_files)
    except DocumentError as exc:
        raise LearnError(f"topic {topic.id}: {exc}") from None
    inputs = TopicInputs(topic, seeds, negatives, seed_files, negative_files)
    for article in seeds:
        found = article_passages(article)
        if not found:
            raise LearnError(f"topic {topic.id}: {article.source}: no article text found (only page clutter?)")
        inputs.passages.extend(found)
    for article in negatives:
        inputs.negative_passages.extend(article_passages(article))
    return inputs


# --- the classifier ---------------------------------------------------------------


def train_logistic(
    positives: Matrix, negatives: Matrix, *, l2: float, pos_weight: Sequence[float] | None = None
) -> tuple[Matrix, float]:
    """Weighted, L2-regularised logistic regression (Newton steps: exact and
    deterministic). Both classes weigh the same in total."""
    x = np.vstack([positives, negatives]).astype(np.float64)
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    wp = np.asarray(pos_weight if pos_weight is not None else np.ones(len(positives)), dtype=np.float64)
    weights = np.concatenate([wp / wp.sum(), np.ones(len(negatives)) / max(len(negatives), 1)])
    features = np.hstack([x, np.ones((len(x), 1))])
    beta = np.zeros(features.shape[1])
    ridge = np.full(features.shape[1], l2)
    ridge[-1] = 1e-6  # the intercept is not shrunk
    for _ in range(25):
        z = features @ beta
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        gradient = features.T @ (weights * (p - y)) + ridge * beta
        hessian = (features * (weights * p * (1 - p))[:, None]).T @ features + np.diag(ridge)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-7:
            break
    return beta[:-1].astype(np.float32), float(beta[-1])


def best_f1_cut(scores: npt.NDArray[np.float64], labels: npt.NDArray[np.bool_]) -> float:
    """The cut that maximises F1 (midway between neighbours; ties: the middle of the best run)."""
    order = np.sort(np.unique(scores))
    if labels.sum() == 0 or len(order) == 0:
        return float(order[-1]) + 1.0 if len(order) else 0.0
    cuts = np.concatenate([[order[0] - 1e-3], (order[:-1] + order[1:]) / 2, [order[-1] + 1e-3]])
    f1 = []
    for cut in cuts:
        predicted = scores >= cut
        tp = int((predicted & labels).sum())
        fp = int((predicted & ~labels).sum())
        fn = int((~predicted & labels).sum())
        f1.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    best = max(f1)
    run = [i for i, s in enumerate(f1) if s >= best - 1e-12]
    return float(np.median(cuts[run]))


SHORT_POSITIVES = ("description", "example", "feedback", "lead")
SHORT_NEGATIVES = ("background", "negative")


@dataclass
class TrainingSet:
    positives: Matrix
    negatives: Matrix
    positive_kinds: list[str]
    negative_kinds: list[str]
    positive_evidence: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    negative_evidence: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    def subset(self, pos: npt.NDArray[np.bool_], neg: npt.NDArray[np.bool_]) -> TrainingSet:
        return TrainingSet(
            self.positives[pos],
            self.negatives[neg],
            [k for k, keep in zip(self.positive_kinds, pos, strict=True) if keep],
            [k for k, keep in zip(self.negative_kinds, neg, strict=True) if keep],
            self.positive_evidence[pos],
            self.negative_evidence[neg],
        )

    def short(self) -> tuple[Matrix, Matrix]:
        """The short texts (descriptions, examples, leads; ordinary news items),
        compared with an article by nearest neighbours."""
        pos = np.array([k in SHORT_POSITIVES for k in self.positive_kinds], dtype=bool)
        neg = np.array([k in SHORT_NEGATIVES for k in self.negative_kinds], dtype=bool)
        return self.positives[pos], self.negatives[neg]


def top_mean(sims: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.float64]:
    """Mean of the ``k`` largest values of each row (all of them if fewer)."""
    if sims.shape[1] == 0:
        return np.zeros(sims.shape[0])
    kk = min(k, sims.shape[1])
    part = np.partition(sims, sims.shape[1] - kk, axis=1)[:, sims.shape[1] - kk :]
    out: npt.NDArray[np.float64] = part.mean(axis=1)
    return out


def knn_margin(vectors: Matrix, positives: Matrix, negatives: Matrix, k: int) -> npt.NDArray[np.float64]:
    return top_mean(vectors @ positives.T, k) - top_mean(vectors @ negatives.T, k)


def _raw(
    vectors: Matrix, w: Matrix, b: float, description: Matrix, scale: dict[str, float], knobs: dict[str, float],
    protos: tuple[Matrix, Matrix] | None = None,
) -> npt.NDArray[np.float64]:
    lr = (vectors @ w + b - scale["lr_mean"]) / scale["lr_std"]
    desc = (vectors @ description - scale["desc_mean"]) / scale["desc_std"]
    out: npt.NDArray[np.float64] = (lr + knobs["description_weight"] * desc).astype(np.float64)
    if knobs["knn_weight"] and protos is not None:
        knn = (knn_margin(vectors, *protos, int(knobs["knn_k"])) - scale["knn_mean"]) / scale["knn_std"]
        out = out + knobs["knn_weight"] * knn
    return out


def fit(
    data: TrainingSet, description: Matrix, knobs: dict[str, float]
) -> tuple[Matrix, float, dict[str, float]]:
    w, b = train_logistic(data.positives, data.negatives, l2=knobs["l2"])
    lr_neg = data.negatives @ w + b
    desc_neg = data.negatives @ description
    scale = {
        "lr_mean": float(lr_neg.mean()),
        "lr_std": float(lr_neg.std() or 1.0),
        "desc_mean": float(desc_neg.mean()),
        "desc_std": float(desc_neg.std() or 1.0),
    }
    if knobs["knn_weight"]:
        # the spread over the negatives, each not its own neighbour
        pos_short, neg_short = data.short()
        sims = neg_short @ neg_short.T
        np.fill_diagonal(sims, -np.inf)
        k = int(knobs["knn_k"])
        knn_neg = top_mean(neg_short @ pos_short.T, k) - top_mean(sims, k)
        scale["knn_mean"] = float(knn_neg.mean())
        scale["knn_std"] = float(knn_neg.std() or 1.0)
    return w, b, scale


def calibrate(data: TrainingSet, description: Matrix, knobs: dict[str, float]) -> float:
    """The threshold on the raw score, from out-of-fold scores: every
    training text is scored by a classifier that did not see it, and the
    cut is the one that best separates them (F1). The seeds' passages are
    long and plainly on the topic, while the articles to judge are a
    headline and two sentences, so the cut learned this way is then placed
    halfway between it and the ordinary news that scores highest."""
    folds = int(knobs["folds"])
    pos_scores = np.zeros(len(data.positives))
    neg_scores = np.zeros(len(data.negatives))
    pos_fold = np.arange(len(data.positives)) % folds
    neg_fold = np.arange(len(data.negatives)) % folds
    for k in range(folds):
        train = data.subset(pos_fold != k, neg_fold != k)
        if len(train.positives) == 0 or len(train.negatives) == 0:
            continue
        w, b, scale = fit(train, description, knobs)
        protos = train.short()
        pos_scores[pos_fold == k] = _raw(data.positives[pos_fold == k], w, b, description, scale, knobs, protos)
        neg_scores[neg_fold == k] = _raw(data.negatives[neg_fold == k], w, b, description, scale, knobs, protos)
    pos_scores += knobs["evidence_weight"] * data.positive_evidence
    neg_scores += knobs["evidence_weight"] * data.negative_evidence
    scores = np.concatenate([pos_scores, neg_scores])
    labels = np.concatenate([np.ones(len(pos_scores), bool), np.zeros(len(neg_scores), bool)])
    return best_f1_cut(scores, labels)


def _evidence(
    topic_id: str, terms: TopicVocabulary, curated: Curated | None, axes: Matrix, groups: dict[str, list[str]]
) -> list[list[str]]:
    """The topic's evidence conjunctions: our hand-written ones when the
    lexicon is used and has some for the topic, else its learned facets (one
    group each, registered in ``groups``)."""
    if curated is not None and curated.evidence(topic_id):
        return curated.evidence(topic_id)
    conjunction = []
    for number, facet in enumerate(facets(terms, axes)):
        name = f"{topic_id}#{number + 1}"
        groups[name] = unique(form for t in facet for lang in LANGUAGES for form in inflections(t, lang) if _in_lang(terms, t, lang))
        conjunction.append(name)
    return [conjunction] if conjunction else []


def _in_lang(terms: TopicVocabulary, text: str, lang: str) -> bool:
    return any(t.text == text and t.lang == lang for t in terms.terms)


def evidence_of(groups: dict[str, list[str]], conjunctions: list[list[str]], texts: Sequence[str]) -> npt.NDArray[np.float64]:
    """1 for each text where one of the evidence conjunctions holds."""
    from monitor.matching.keywords import TermIndex, pad
    from monitor.matching.text import normalize

    index = TermIndex()
    for group in {g for conj in conjunctions for g in conj}:
        for term in groups[group]:
            index.add(term, group)
    out = np.zeros(len(texts))
    for i, text in enumerate(texts):
        hits = index.find(pad(normalize(text)))
        out[i] = float(any(all(g in hits for g in conj) for conj in conjunctions))
    return out


# --- putting it together -----------------------------------------------------------


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
    from monitor.ingest.normalize import detect_language
    from monitor.matching.model import encode_vector, quantize

    if not topics:
        raise LearnError("no topics configured: nothing to learn")
    knobs = {**KNOBS, **(knobs or {})}
    inputs = [read_inputs(t, resolve) for t in topics]
    background = load_background()
    axes = language_axes(background)
    vocabulary = load_vocabulary()

    examples = curated.examples if curated else []
    feedback = sorted((f for f in feedback if f.text.strip()), key=lambda f: (f.article_id, f.topic_id))
    texts: list[str] = []
    for item in inputs:
        texts.extend(p.text for p in item.passages)
        texts.extend(p.text for p in item.negative_passages)
        texts.append(_description(item.topic))
        texts.extend(_description_sentences(item.topic))
    texts.extend(str(e["text"]) for e in examples)
    texts.extend(f.text for f in feedback)
    unique_texts = list(dict.fromkeys(texts))
    vectors = project_out(embed(unique_texts, progress=progress), axes)
    vec = dict(zip(unique_texts, vectors, strict=True))

    def stack(items: Sequence[str]) -> Matrix:
        return np.vstack([vec[t] for t in items]) if items else np.zeros((0, vectors.shape[1]), np.float32)

    groups: dict[str, list[str]] = dict(curated.groups) if curated else {}
    ordinary = project_out(background.vectors, axes)
    corpus = read_corpus()
    background_texts = [i["en"] for i in corpus] + [i["fr"] for i in corpus]
    entries = []
    descriptions = {item.topic.id: _unit(vec[_description(item.topic)]) for item in inputs}
    kept: dict[str, list[Passage]] = {}
    for item in inputs:
        d = descriptions[item.topic.id]
        cut = float(np.quantile(ordinary @ d, knobs["keep_quantile"]))
        sims = stack([p.text for p in item.passages]) @ d if item.passages else np.zeros(0)
        chosen = [p for p, s in zip(item.passages, sims, strict=True) if s >= cut]
        if item.passages and not chosen:
            chosen = [item.passages[int(i)] for i in np.argsort(-sims)[:3]]
        kept[item.topic.id] = chosen

    for item in inputs:
        topic = item.topic
        d = descriptions[topic.id]
        passages = kept[topic.id]
        pos_texts = [p.text for p in passages] + [_description(topic)] + _description_sentences(topic)
        pos_kinds = ["lead" if p.number == 0 else "passage" for p in passages] + ["description"] * (
            1 + len(_description_sentences(topic))
        )
        for ex in examples:
            if topic.id in (ex.get("topics") or ()):
                pos_texts.append(str(ex["text"]))
                pos_kinds.append("example")
        for f in feedback:
            if f.topic_id == topic.id and f.relevant:
                pos_texts.append(f.text)
                pos_kinds.append("feedback")
        positives = stack(pos_texts)
        centroid = _unit(positives.mean(axis=0) + d)
        pos_sims = positives @ centroid
        limit = float(np.quantile(pos_sims, knobs["reliable_negative_quantile"]))
        reliable = (ordinary @ centroid) < limit
        neg_list: list[Matrix] = [ordinary[reliable]]
        neg_kinds = ["background"] * len(neg_list[0])
        neg_texts = [t for t, keep in zip(background_texts, reliable, strict=True) if keep]
        for other in inputs:
            if other.topic.id == topic.id:
                continue
            theirs = [p.text for p in kept[other.topic.id] if p.text not in set(pos_texts)]
            if theirs:
                m = stack(theirs)
                not_mine = (m @ d) < float(np.quantile(ordinary @ d, knobs["keep_quantile"]))
                neg_list.append(m[not_mine])
                neg_kinds.extend(["other-topic"] * int(not_mine.sum()))
                neg_texts.extend(t for t, keep in zip(theirs, not_mine, strict=True) if keep)
        own_negatives = [p.text for p in item.negative_passages]
        for ex in examples:
            labels = tuple(ex.get("topics") or ())
            if topic.id in (ex.get("not") or ()) or (not labels and not ex.get("not")):
                own_negatives.append(str(ex["text"]))
        own_negatives.extend(f.text for f in feedback if f.topic_id == topic.id and not f.relevant)
        if own_negatives:
            neg_list.append(stack(own_negatives))
            neg_kinds.extend(["negative"] * len(own_negatives))
            neg_texts.extend(own_negatives)
        data = TrainingSet(positives, np.vstack(neg_list), pos_kinds, neg_kinds)
        lang_by_source = {a.source: detect_language(a.text) or "und" for a in item.seeds}
        seed_texts = [
            (lang_by_source.get(source, "und"), [p.text for p in passages if p.source == source])
            for source in dict.fromkeys(p.source for p in passages)
        ]
        relevance = Relevance(centroid, vocabulary, background.vectors, axes)
        description_lang = detect_language(topic.description) or "en"
        terms = learn_vocabulary(seed_texts, topic.description or topic.name, description_lang, relevance)
        evidence = _evidence(topic.id, terms, curated, axes, groups)
        data.positive_evidence = evidence_of(groups, evidence, pos_texts)
        data.negative_evidence = evidence_of(groups, evidence, neg_texts)
        w, b, scale = fit(data, d, knobs)
        center = calibrate(data, d, knobs)
        entries.append(
            _entry(evidence, data, topic, item, passages, terms, curated, w, b, scale, center, d, stack, encode_vector, quantize)
        )

    canonical = {
        "format": FORMAT,
        "embedder": MODEL_NAME,
        "knobs": knobs,
        "topics": [
            {
                "id": item.topic.id,
                "name": item.topic.name,
                "description": item.topic.description,
                "seeds": [_file_digest(p) for p in item.seed_files],
                "negatives": [_file_digest(p) for p in item.negative_files],
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
    data_out: dict[str, Any] = {
        "format": FORMAT,
        "version": f"tm-{digest[:12]}",
        "embedder": MODEL_NAME,
        "knobs": knobs,
        "language_axes": [encode_vector(a) for a in axes],
        "inputs": {"sha256": digest, "feedback": len(feedback), "curated": bool(curated)},
        "groups": dict(sorted(groups.items())),
        "topics": entries,
    }
    return data_out


def _entry(
    evidence: list[list[str]],
    data: TrainingSet,
    topic: TopicConfig,
    item: TopicInputs,
    passages: list[Passage],
    terms: TopicVocabulary,
    curated: Curated | None,
    w: Matrix,
    b: float,
    scale: dict[str, float],
    center: float,
    description: Matrix,
    stack: Callable[[Sequence[str]], Matrix],
    encode_vector: Callable[[Matrix], str],
    quantize: Callable[[Matrix], list[str]],
) -> dict[str, Any]:
    vocab = {
        lang: {
            "gate": terms.gate(lang),
            "evidence": terms.evidence(lang),
            "gate_forms": terms.match_forms(lang, "gate"),
            "evidence_forms": terms.match_forms(lang, "evidence"),
        }
        for lang in LANGUAGES
    }
    return {
        "id": topic.id,
        "name": topic.name,
        "classifier": {
            "w": encode_vector(w),
            "b": round(b, 6),
            "description": encode_vector(description),
            **{k: round(v, 6) for k, v in scale.items()},
            "center": round(center, 6),
        },
        "prototypes": dict(zip(("positive", "negative"), map(quantize, data.short()), strict=True)),
        "vocabulary": vocab,
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
        "curated": {"gate": curated.gate(topic.id)} if curated and curated.gate(topic.id) else None,
        "evidence": evidence,
        "seeds": [
            {
                "file": a.source,
                "passages": sum(1 for p in item.passages if p.source == a.source),
                "kept": sum(1 for p in passages if p.source == a.source),
            }
            for a in item.seeds
        ],
        "negatives": len(item.negatives),
        "passages": [
            {"seed": p.source, "passage": p.number, "v": v}
            for p, v in zip(passages, quantize(stack([p.text for p in passages])), strict=True)
        ],
    }


def _description(topic: TopicConfig) -> str:
    return " ".join((topic.description or topic.name).split())


def _description_sentences(topic: TopicConfig) -> list[str]:
    found = [s for s in sentences(topic.description) if len(s.split()) >= 3]
    return found if len(found) > 1 else []


def _file_digest(path: Path) -> list[str]:
    return [path.name, hashlib.sha256(path.read_bytes()).hexdigest()]


def dumps(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def write_artifact(data: dict[str, Any], path: Path) -> bytes:
    """Write atomically (a reader sees the old file or the new one, never half)."""
    payload = dumps(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{math.floor(np.random.default_rng().random() * 1e9)}.tmp")
    tmp.write_bytes(payload)
    tmp.replace(path)
    return payload


__all__ = ["KNOBS", "Background", "Curated", "FeedbackExample", "LearnError", "learn", "write_artifact"]
