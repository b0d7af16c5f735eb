"""The topic model's artifact as stored: its canonical bytes, the atomic
write every process can read at any moment, the learner's settings it
records (part of its version), and the neighbours it carries per topic."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from monitor.matching.classifier import CURATED_NEGATIVES, SHORT_NEGATIVES, Classifier, TrainingSet

Matrix = npt.NDArray[np.float32]


def learner_settings() -> dict[str, Any]:
    """The learner's fixed settings and data, part of the model's version: a
    model learned by other rules or vocabulary is another model."""
    from monitor.matching import documents, facets, terms, vocabulary

    names = {
        documents: (
            "PROSE_MIN_WORDS",
            "TITLE_MIN_WORDS",
            "TITLE_MAX_WORDS",
            "PASSAGE_MIN_WORDS",
            "PASSAGE_MAX_WORDS",
        ),
        terms: (
            "MAX_WORDS",
            "MIN_DISTINCTIVE",
            "MIN_RELEVANCE_PERCENTILE",
            "GATE_MAX_ZIPF",
            "GATE_MIN_RELEVANCE",
            "FIELD_SIZE",
            "FIELD_TERMS",
            "FIELD_MIN_PERCENTILE",
            "COUNTERPART_MARGIN",
            "COUNTERPART_MIN_ZIPF",
            "COUNTERPART_MIN_SIMILARITY",
            "MAX_TERMS",
            "MAX_COUNTERPARTS",
        ),
        facets: ("FACET_LINK", "FACETS", "DEFINING_COVERAGE"),
    }
    out: dict[str, Any] = {
        f"{module.__name__.rsplit('.', 1)[-1]}.{name}": getattr(module, name)
        for module, keys in names.items()
        for name in keys
    }
    out["vocabulary"] = vocabulary.table_digest()
    return out


def prototypes(
    data: TrainingSet,
    classifier: Classifier,
    reliable: npt.NDArray[np.bool_],
    quantize: Callable[[Matrix], list[str]],
) -> dict[str, Any]:
    """The neighbours an article is compared with. Ordinary news items are
    not copied into the artifact: it names them, a bit per item of the
    shipped background (whose sha256 the artifact records)."""
    kinds = CURATED_NEGATIVES if data.curated else SHORT_NEGATIVES
    _, own = data.kinds((), tuple(k for k in kinds if k != "background"))
    uses_background = "background" in kinds
    bits = np.packbits(reliable.astype(np.uint8) if uses_background else np.zeros(len(reliable), np.uint8))
    return {
        "positive": quantize(classifier.positives),
        "negative": quantize(own),
        "background": base64.b64encode(bits.tobytes()).decode("ascii"),
        "passages": quantize(classifier.passages),
        "other_passages": quantize(classifier.other_passages),
    }


def dumps(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def write_artifact(data: dict[str, Any], path: Path) -> bytes:
    """Write atomically: a reader sees the old file or the new one, never half."""
    payload = dumps(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(payload)
    tmp.replace(path)
    return payload
