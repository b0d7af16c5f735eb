"""Articles per second of the matcher: the 3 shipped topics, 5 topics (the
shipped three and the two practice topics, learned together at the start),
and 1,000 topics.

    MONITOR_EMBED_THREADS=2 .venv/bin/python bench/classify.py [--dev ../shared/eval/dev.jsonl] \
        [--n 1000] [--repeat 3]

Streams (title + summary, EN and FR):

* ``dev``: the 100 labelled dev articles. Nearly every one is about the
  topics, so most are embedded: the worst case, not a feed.
* ``mixed``: a feed-like stream of ``--n`` articles: the 100 dev articles
  (55 on-topic, 45 off-topic but close to it: other strikes, AI news, box
  office) shuffled among ``n - 100`` general news items made from the
  templates below. Each general item is two template sentences (sport,
  weather, economy, politics, health, culture, a phone launch, an AI
  assistant for businesses, rail delays), so about a fifth of them mention
  AI, but none mentions performers, strikes or likeness. Be honest about
  what this measures: the templates are easy for the keyword stage (none
  passes a gate), so the share embedded is set by the dev articles, 10% of
  the stream; a real feed of entertainment and tech outlets has fewer
  on-topic articles than that but more near-misses. Throughput follows
  the embedded share: ``rate ~= embedding rate / share``. The shares
  embedded among the dev and the general items are printed apart.

5 topics: the practice topics are learned from their seeds and description
only (eval/practice-topics.yaml), so their gates are the learned ones: how
much of the stream a learned gate lets through is what this measures.

1,000 topics: the 5 topics plus 995 synthetic ones, copies of a learned
topic's classifier with their own gate terms (two invented words each,
planted in no article), so the keyword stage, the gates and the decisions
all run for 1,000 topics.

Every run builds a fresh matcher and the embedding cache is off, so every
embedded article pays its embedding in full (syndicated copies of the same
text would be embedded once in production). Threads: MONITOR_EMBED_THREADS
(default 2, the machine's 2 cores). The 1-minute load average is printed
before and after: other processes on the 2 cores slow every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MONITOR_EMBED_THREADS", "2")

import yaml

from monitor import resources
from monitor.config import Settings, TopicConfig
from monitor.matching import embed
from monitor.matching.base import ArticleText
from monitor.matching.matcher import CombinedMatcher
from monitor.matching.model import TopicModel

GENERAL_EN = [
    "{team} beat {team2} {a}-{b} on {day} to move {n} points clear at the top of the league.",
    "Forecasters expect {weather} across the {region} on {day}, with temperatures near {n} degrees.",
    "The central bank held interest rates at {a}.{b}% as inflation eased to {n} per cent in {month}.",
    "Shares in {company} fell {n}% after the retailer cut its profit forecast for the year.",
    "The prime minister faced questions in parliament on {day} over the housing plan and hospital waiting lists.",
    "Health officials reported {n} new cases of measles in the {region} and urged parents to vaccinate.",
    "The museum opens a retrospective of the painter's landscapes on {day}, with {n} works on loan.",
    "{company} unveiled a new phone with a larger battery and a faster chip, priced from {n}9 dollars.",
    "{company} says its new AI assistant will summarise emails and meetings for business customers.",
    "Commuters faced delays on {day} after a signal failure near the {region} junction.",
]
GENERAL_FR = [
    "{team} a battu {team2} {a}-{b} {day} et compte désormais {n} points d'avance en tête du championnat.",
    "Météo-France prévoit {weather_fr} sur {region_fr} {day}, avec des températures proches de {n} degrés.",
    "La banque centrale maintient ses taux à {a},{b} % alors que l'inflation recule à {n} % en {month_fr}.",
    "L'action {company} a chuté de {n} % après un avertissement sur les résultats annuels.",
    "Le gouvernement présente {day} son projet de loi sur le logement devant l'Assemblée nationale.",
    "Les autorités sanitaires signalent {n} nouveaux cas de rougeole dans {region_fr}.",
    "Le musée consacre une rétrospective aux paysages du peintre à partir de {day}, avec {n} œuvres prêtées.",
    "{company} dévoile un nouveau smartphone avec une batterie plus grande, vendu à partir de {n}9 euros.",
    "{company} lance un assistant d'intelligence artificielle pour résumer les courriels des entreprises.",
    "Les usagers du train ont subi des retards {day} à cause d'une panne de signalisation près de {region_fr}.",
]
FILL = {
    "team": ["Lyon", "Arsenal", "Benfica", "Celtic", "Napoli"],
    "team2": ["Lille", "Everton", "Porto", "Rangers", "Torino"],
    "day": ["Monday", "Tuesday", "lundi", "mardi", "Saturday"],
    "weather": ["heavy rain", "sunny spells", "strong winds"],
    "weather_fr": ["de fortes pluies", "un temps ensoleillé", "des vents violents"],
    "region": ["north", "south-west", "east coast"],
    "region_fr": ["la Bretagne", "l'Occitanie", "les Hauts-de-France"],
    "month": ["March", "June", "October"],
    "month_fr": ["mars", "juin", "octobre"],
    "company": ["Northwind", "Acme", "Globex", "Initech"],
}


def general_article(rng: random.Random) -> ArticleText:
    lang = rng.choice(["en", "fr"])
    template = rng.choice(GENERAL_EN if lang == "en" else GENERAL_FR)
    values: dict[str, Any] = {k: rng.choice(v) for k, v in FILL.items()}
    values.update(a=rng.randint(0, 4), b=rng.randint(0, 9), n=rng.randint(2, 40))
    first = template.format(**values)
    second = rng.choice(GENERAL_EN if lang == "en" else GENERAL_FR).format(**values)
    return ArticleText(first.split(",")[0][:80], f"{first} {second}", lang)


def dev_articles(path: Path) -> list[ArticleText]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [ArticleText(r["title"], r["summary"], r["lang"]) for r in rows]


def streams(dev: list[ArticleText], n: int, seed: int = 7) -> dict[str, list[ArticleText]]:
    """``dev``: each dev article once; ``mixed``: every dev article once among ``n - len(dev)`` general ones."""
    rng = random.Random(seed)
    mixed = list(dev) + [general_article(rng) for _ in range(max(n - len(dev), 0))]
    rng.shuffle(mixed)
    return {"dev": list(dev), "mixed": mixed}


def synthetic_model(base: dict[str, Any], extra: int, seed: int = 11) -> dict[str, Any]:
    """The five learned topics plus ``extra`` synthetic ones (for scale only):
    copies of a learned topic's classifier, each with two invented gate
    terms planted in no article, so the keyword stage, the gates and the
    decisions run for every topic."""
    rng = random.Random(seed)
    data: dict[str, Any] = json.loads(json.dumps(base))
    template = next(t for t in data["topics"] if not t.get("curated_gate"))
    for i in range(extra):
        terms = [f"zq{i}x{rng.randint(1000, 9999)}", f"vw{i}k{rng.randint(1000, 9999)} mot"]
        topic = {
            **template,
            "id": f"synthetic-{i:04d}",
            "name": f"Synthetic {i}",
            "evidence": [],
            "facets": [],
        }
        topic["vocabulary"] = {
            lang: {"gate": terms, "evidence": terms, "gate_forms": terms, "evidence_forms": terms}
            for lang in ("en", "fr")
        }
        data["topics"].append(topic)
    return data


def five_topics() -> tuple[tuple[TopicConfig, ...], dict[str, Any]]:
    """The three shipped topics (as monitor.yaml has them) and the two
    practice topics (eval/practice-topics.yaml), learned together."""
    from monitor.config import load_config
    from monitor.matching.relearn import learn_and_write

    root = Path(__file__).resolve().parents[1]
    shipped = load_config(root / "monitor.yaml")
    practice = load_config(root / "eval" / "practice-topics.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        topics = [
            t.model_copy(update={"seeds": tuple(str(shipped.resolve_path(s)) for s in t.seeds)})
            for t in shipped.topics
        ] + [
            t.model_copy(update={"seeds": tuple(str(practice.resolve_path(s)) for s in t.seeds)})
            for t in practice.topics
        ]
        settings = shipped.model_copy(
            update={
                "topics": tuple(topics),
                "model_path": str(Path(tmp) / "model.json"),
                "database_url": f"sqlite:///{Path(tmp) / 'none.sqlite3'}",
                "learning": shipped.learning.model_copy(
                    update={
                        "lexicon": str(shipped.resolve_path(shipped.learning.lexicon or "")),
                        "examples": str(shipped.resolve_path(shipped.learning.examples or "")),
                    }
                ),
            }
        )
        started = time.perf_counter()
        learned = learn_and_write(settings, use_feedback=False)
        print(f"learned 5 topics in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return settings.topics, learned.data


def run(
    matcher_factory: Any, articles: list[ArticleText], repeat: int, batch: int, dev: set[ArticleText]
) -> dict[str, Any]:
    rates = []
    flags: list[bool] = []
    for _ in range(repeat):
        matcher = matcher_factory()
        start = time.perf_counter()
        flags = []
        for i in range(0, len(articles), batch):
            rows = matcher.classify(articles[i : i + batch])
            flags.extend(any(d.evidence.get("embedded") for d in row) for row in rows)
        rates.append(len(articles) / (time.perf_counter() - start))
    n_dev = sum(1 for a in articles if a in dev)
    n_general = len(articles) - n_dev
    return {
        "articles_per_second": round(statistics.median(rates), 1),
        "runs": [round(r, 1) for r in rates],
        "embedded_share": round(sum(flags) / len(articles), 3),
        "embedded_dev": sum(f for a, f in zip(articles, flags, strict=True) if a in dev),
        "embedded_general": sum(f for a, f in zip(articles, flags, strict=True) if a not in dev),
        "n_dev": n_dev,
        "n_general": n_general,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dev", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev.jsonl"
    )
    parser.add_argument("--model", type=Path, default=resources.seeds_dir() / "model.json")
    parser.add_argument("--n", type=int, default=1000, help="articles in the mixed stream")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64, help="articles per classify() call")
    args = parser.parse_args()

    base = json.loads(args.model.read_text(encoding="utf-8"))
    topics_yaml = yaml.safe_load((resources.seeds_dir() / "topics.example.yaml").read_text(encoding="utf-8"))
    real = Settings.model_validate(topics_yaml).topics
    five, learned = five_topics()
    big = synthetic_model(learned, 995)
    synthetic = tuple(TopicConfig(id=t["id"], name=t["name"]) for t in big["topics"][len(five) :])
    setups = {
        "3 topics": lambda: CombinedMatcher(real, TopicModel(base)),
        "5 topics": lambda: CombinedMatcher(five, TopicModel(learned)),
        "1000 topics": lambda: CombinedMatcher(five + synthetic, TopicModel(big)),
    }
    embed.CACHE_SIZE = 0
    results: dict[str, Any] = {
        "threads": os.environ["MONITOR_EMBED_THREADS"],
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    dev = dev_articles(args.dev)
    embed.embed(["warm up"])
    start = time.perf_counter()
    embed.embed([a.text for a in dev])
    results["embedding_alone_texts_per_second"] = round(len(dev) / (time.perf_counter() - start), 1)
    print(
        f"embedding alone: {results['embedding_alone_texts_per_second']} texts/s (dev title+summary)",
        file=sys.stderr,
    )
    for stream, articles in streams(dev, args.n).items():
        for name, factory in setups.items():
            result = run(factory, articles, args.repeat, args.batch, set(dev))
            results[f"{stream} / {name}"] = result
            print(
                f"{stream:6} {name:12} {result['articles_per_second']:8.1f} articles/s  "
                f"(embedded {result['embedded_share']:.1%}: {result['embedded_dev']}/{result['n_dev']} dev, "
                f"{result['embedded_general']}/{result['n_general']} general; runs {result['runs']})",
                file=sys.stderr,
            )
        ratio = (
            results[f"{stream} / 5 topics"]["articles_per_second"]
            / results[f"{stream} / 1000 topics"]["articles_per_second"]
        )
        results[f"{stream} / cost ratio 1000:5"] = round(ratio, 2)
        print(f"{stream:6} 1000 topics cost {ratio:.2f}x the 5 topics", file=sys.stderr)
    results["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
