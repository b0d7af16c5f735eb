"""``monitor eval``: precision, recall and F1 of a matcher on labelled JSON Lines.

Records follow ../shared/eval/GUIDELINES.md (``title``, ``summary``, ``lang``,
``labels``, ``borderline``). Borderline records are left out of the headline
figures and reported apart under ``"borderline"``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.matching.base import ArticleText, TopicDecision, TopicMatcher


@dataclass(frozen=True)
class Record:
    id: str
    lang: str
    title: str
    summary: str
    labels: frozenset[str]
    borderline: bool


def read_records(path: Path) -> list[Record]:
    records: list[Record] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not JSON: {exc}") from None
        records.append(
            Record(
                id=str(item.get("id", number)),
                lang=str(item.get("lang") or "und"),
                title=str(item.get("title") or ""),
                summary=str(item.get("summary") or ""),
                labels=frozenset(item.get("labels") or ()),
                borderline=bool(item.get("borderline", False)),
            )
        )
    return records


def _prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def metrics(
    records: Sequence[Record], predicted: Sequence[set[str]], topic_ids: Sequence[str]
) -> dict[str, Any]:
    topics: dict[str, Any] = {}
    total = [0, 0, 0]
    for topic in topic_ids:
        tp = fp = fn = 0
        for record, pred in zip(records, predicted, strict=True):
            gold = topic in record.labels
            got = topic in pred
            tp += gold and got
            fp += got and not gold
            fn += gold and not got
        topics[topic] = _prf(tp, fp, fn)
        total[0] += tp
        total[1] += fp
        total[2] += fn
    macro = sum(t["f1"] for t in topics.values()) / len(topics) if topics else 0.0
    micro = _prf(*total)["f1"]
    return {"n": len(records), "topics": topics, "macro_f1": round(macro, 4), "micro_f1": micro}


BATCH = 32


def evaluate(
    matcher: TopicMatcher,
    records: Sequence[Record],
    topic_ids: Sequence[str],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Scores ``records`` for ``topic_ids`` only (other topics' decisions are ignored)."""
    articles = [ArticleText(r.title, r.summary, r.lang) for r in records]
    wanted = set(topic_ids)
    start = time.perf_counter()
    decisions: list[list[TopicDecision]] = []
    for first in range(0, len(articles), BATCH):
        decisions.extend(matcher.classify(articles[first : first + BATCH]))
        if progress is not None:
            progress(min(first + BATCH, len(articles)), len(articles))
    elapsed = time.perf_counter() - start
    predicted = [{d.topic_id for d in row if d.matched and d.topic_id in wanted} for row in decisions]
    headline = [i for i, r in enumerate(records) if not r.borderline]
    borderline = [i for i, r in enumerate(records) if r.borderline]

    def subset(indices: Sequence[int]) -> dict[str, Any]:
        return metrics([records[i] for i in indices], [predicted[i] for i in indices], topic_ids)

    result = subset(headline)
    by_lang: dict[str, Any] = {}
    for lang in sorted({records[i].lang for i in headline}):
        part = subset([i for i in headline if records[i].lang == lang])
        by_lang[lang] = {
            "n": part["n"],
            "macro_f1": part["macro_f1"],
            "micro_f1": part["micro_f1"],
            "topics": part["topics"],
        }
    result["by_lang"] = by_lang
    result["articles_per_second"] = round(len(records) / elapsed, 2) if elapsed > 0 else 0.0
    result["borderline"] = {
        **subset(borderline),
        "items": [
            {"id": records[i].id, "labels": sorted(records[i].labels), "predicted": sorted(predicted[i])}
            for i in borderline
        ],
    }
    result["errors"] = [
        {
            "id": records[i].id,
            "lang": records[i].lang,
            "missed": sorted(records[i].labels - predicted[i]),
            "extra": sorted(predicted[i] - records[i].labels),
        }
        for i in headline
        if predicted[i] != set(records[i].labels) & set(topic_ids)
        and (records[i].labels ^ predicted[i]) & set(topic_ids)
    ]
    result["model_version"] = matcher.version
    return result


def format_report(result: dict[str, Any]) -> str:
    lines = [
        f"{result['n']} articles (borderline left out: {result['borderline']['n']}), "
        f"model {result['model_version']}"
    ]
    lines.append(f"{'topic':24} {'P':>6} {'R':>6} {'F1':>6} {'tp':>4} {'fp':>4} {'fn':>4}")
    for topic, m in result["topics"].items():
        lines.append(
            f"{topic:24} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} "
            f"{m['tp']:4d} {m['fp']:4d} {m['fn']:4d}"
        )
    lines.append(f"macro-F1 {result['macro_f1']:.3f}   micro-F1 {result['micro_f1']:.3f}")
    for lang, part in result["by_lang"].items():
        per = "  ".join(f"{t} {m['f1']:.3f}" for t, m in part["topics"].items())
        lines.append(f"  {lang} (n={part['n']}): macro-F1 {part['macro_f1']:.3f}   {per}")
    b = result["borderline"]
    if b["n"]:
        lines.append(f"borderline (n={b['n']}): micro-F1 {b['micro_f1']:.3f}")
    lines.append(f"{result['articles_per_second']:.1f} articles/s")
    if result["errors"]:
        lines.append(
            "errors: "
            + "; ".join(
                f"{e['id']}"
                + (f" missed {','.join(e['missed'])}" if e["missed"] else "")
                + (f" extra {','.join(e['extra'])}" if e["extra"] else "")
                for e in result["errors"]
            )
        )
    return "\n".join(lines)
