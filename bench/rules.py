"""Articles per second of keyword-rule topics (``model: rules``): 3 topics and 1,000.

    .venv/bin/python bench/rules.py [--dev ../shared/eval/dev.jsonl] [--n 10000] [--repeat 3]

The stream is ``bench/classify.py``'s ``mixed`` one (the 100 dev articles
among general news, English and French), ``--n`` articles, classified in
batches of 64 by the matcher the service uses (text normalisation, the
keyword stage, one decision per topic), with no learned model.

* 3 topics: rules for the three real topics (``any``, ``all``, ``phrase``,
  ``exclude``), written as an operator would.
* 1,000 topics: those 3 plus 997 synthetic ones. Each has 2-6 ``any``
  terms, a third an ``all`` pair, a fifth a ``phrase``, a tenth an
  ``exclude``; their terms mix invented words (found nowhere) with words
  the general news uses (team, company and region names, "rain",
  "inflation"...): ``--common-share`` of the terms (default 0.02) are such
  words, so that an article touches about 8 synthetic topics and matches
  about 3 (0.08: about 30 and 14); and 1 topic in 50 has a ``regex``.

Prints one line per setup and a JSON object; the load average before and
after, since other processes on the 2 cores slow every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from classify import dev_articles, streams

from monitor.config import KeywordRules, TopicConfig
from monitor.matching.base import ArticleText
from monitor.matching.matcher import CombinedMatcher

REAL = (
    TopicConfig(
        id="ai-likeness",
        name="AI and likeness",
        model="rules",
        rules=KeywordRules(
            any=("likeness", "voice clone", "deepfake", "digital replica", "clone vocal", "ressemblance"),
            exclude=("box office",),
        ),
    ),
    TopicConfig(
        id="strike-negotiations",
        name="Strikes",
        model="rules",
        rules=KeywordRules(
            any=("strike", "grève", "picket*", "tentative deal", "ratification"),
            phrase=("sag-aftra", "writers guild", "studios", "syndicat"),
        ),
    ),
    TopicConfig(
        id="digital-doubles",
        name="Digital doubles",
        model="rules",
        rules=KeywordRules(
            all=("scan*",), any=("digital double", "background actor*", "figurant*", "double numérique")
        ),
    ),
)
COMMON = [
    "Lyon", "Arsenal", "Benfica", "Celtic", "Napoli", "Lille", "Everton", "Porto", "rain", "inflation",
    "battery", "museum", "measles", "parliament", "phone", "signal failure", "banque centrale", "rougeole",
    "assistant", "retrospective", "Northwind", "Acme", "Globex", "Initech", "Bretagne", "Occitanie",
]  # fmt: skip


def synthetic_topics(count: int, common_share: float, seed: int = 5) -> tuple[TopicConfig, ...]:
    rng = random.Random(seed)

    def word() -> str:
        return "".join(
            rng.choice("bcdfghjklmnpqrstvwxz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4))
        )

    def term() -> str:
        return rng.choice(COMMON) if rng.random() < common_share else word()

    topics = []
    for i in range(count):
        rules: dict[str, Any] = {"any": tuple(term() for _ in range(rng.randint(2, 6)))}
        if i % 3 == 0:
            rules["all"] = (term(), word())
        if i % 5 == 0:
            rules["phrase"] = (f"{word()} {word()}",)
        if i % 10 == 0:
            rules["exclude"] = (term(),)
        if i % 50 == 0:
            rules["regex"] = (rf"\b{word()}\d+\b",)
        topics.append(
            TopicConfig(id=f"rule-{i:04d}", name=f"Rule {i}", model="rules", rules=KeywordRules(**rules))
        )
    return tuple(topics)


def measure(
    topics: tuple[TopicConfig, ...], articles: list[ArticleText], repeat: int, batch: int
) -> dict[str, Any]:
    rates = []
    matched = 0
    for _ in range(repeat):
        matcher = CombinedMatcher(topics, None)
        matched = 0
        start = time.perf_counter()
        for i in range(0, len(articles), batch):
            for row in matcher.classify(articles[i : i + batch]):
                matched += sum(1 for decision in row if decision.matched)
        rates.append(len(articles) / (time.perf_counter() - start))
    return {
        "articles_per_second": round(statistics.median(rates)),
        "runs": [round(r) for r in rates],
        "matches": matched,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dev", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev.jsonl"
    )
    parser.add_argument("--n", type=int, default=10_000, help="articles in the stream")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--common-share",
        type=float,
        default=0.02,
        help="share of synthetic terms taken from words the stream uses (0.02: an article touches ~8 topics)",
    )
    args = parser.parse_args()
    articles = streams(dev_articles(args.dev), args.n)["mixed"]
    results: dict[str, Any] = {"articles": len(articles), "load_average_1m": round(os.getloadavg()[0], 2)}
    results["common_share"] = args.common_share
    for name, topics in (
        ("3 rule topics", REAL),
        ("1000 rule topics", REAL + synthetic_topics(997, args.common_share)),
    ):
        result = measure(topics, articles, args.repeat, args.batch)
        results[name] = result
        print(
            f"{name:17} {result['articles_per_second']:8,} articles/s  ({result['matches']:,} matches; runs {result['runs']})",
            file=sys.stderr,
        )
    results["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
