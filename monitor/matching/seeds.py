"""Seed articles and their manifest.

The seed texts live outside the repository (``../shared/seeds``); the
package keeps only ``monitor/seeds/manifest.yaml``: for each seed file its name,
sha256, language and our labels for its passages, referred to by number.

Passages are cut deterministically from the text (:func:`split_passages`):
sentences are taken in order and grouped until a passage holds at least
``MIN_WORDS`` words (it never grows past ``MAX_WORDS`` unless one sentence
is longer). The same file therefore always gives the same numbered passages,
and the sha256 in the manifest guarantees it is the same file.

Manifest format::

    seeds:
      - file: 003_e7bc8926dfa3bc8c.txt
        sha256: ...
        lang: fr
        note: one line in our words
        passages:            # passage numbers (1-based) or ranges -> labels
          "1-4": [strike-negotiations]
          "5": [strike-negotiations, ai-likeness]
          "20-24": []         # off-topic: a real negative
        skip: ["30-31"]       # boilerplate: neither positive nor negative

Every passage not listed is treated as off-topic (a negative). Where the
texts are searched: ``--seeds-text DIR``, then the manifest's ``text_dir``
(relative to the manifest), then the manifest's own directory, then
``$MONITOR_SEEDS_DIR``, then ``../shared/seeds`` from the current directory
(the project's checkout keeps its shared material there).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from monitor.config import environment
from monitor.matching.text import sentences

MIN_WORDS = 45
MAX_WORDS = 110
MANIFEST_FILE = "manifest.yaml"


class SeedError(Exception):
    pass


def split_passages(text: str) -> list[str]:
    """Numbered passages (index 0 is passage 1) of a seed text."""
    passages: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in sentences(text):
        words = len(sentence.split())
        if current and count + words > MAX_WORDS and count >= MIN_WORDS // 2:
            passages.append(" ".join(current))
            current, count = [], 0
        current.append(sentence)
        count += words
        if count >= MIN_WORDS:
            passages.append(" ".join(current))
            current, count = [], 0
    if current:
        if passages and count < MIN_WORDS // 3:
            passages[-1] = passages[-1] + " " + " ".join(current)
        else:
            passages.append(" ".join(current))
    return passages


def parse_range(spec: str | int) -> list[int]:
    """``"3"`` -> [3]; ``"2-5"`` -> [2, 3, 4, 5] (1-based passage numbers)."""
    text = str(spec).strip()
    if "-" in text:
        start, end = (int(part) for part in text.split("-", 1))
    else:
        start = end = int(text)
    if start < 1 or end < start:
        raise SeedError(f"bad passage range {spec!r}")
    return list(range(start, end + 1))


@dataclass(frozen=True)
class SeedEntry:
    file: str
    sha256: str | None
    lang: str
    labels: dict[int, tuple[str, ...]]  # passage number -> topic ids (empty: off-topic)
    skip: frozenset[int]
    note: str = ""


@dataclass(frozen=True)
class Manifest:
    path: Path
    entries: tuple[SeedEntry, ...]
    text_dir: str | None = None


def load_manifest(path: Path) -> Manifest:
    if path.is_dir():
        path = path / MANIFEST_FILE
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeedError(f"{path}: no seed manifest") from None
    if not isinstance(data, dict) or not isinstance(data.get("seeds"), list):
        raise SeedError(f"{path}: expected a mapping with a 'seeds' list")
    entries: list[SeedEntry] = []
    for number, item in enumerate(data["seeds"], 1):
        if not isinstance(item, dict) or "file" not in item:
            raise SeedError(f"{path}: seeds[{number}] needs at least 'file'")
        labels: dict[int, tuple[str, ...]] = {}
        for spec, topics in (item.get("passages") or {}).items():
            for passage in parse_range(spec):
                labels[passage] = tuple(topics or ())
        skip = frozenset(p for spec in item.get("skip") or () for p in parse_range(spec))
        entries.append(
            SeedEntry(
                file=str(item["file"]),
                sha256=None if item.get("sha256") is None else str(item["sha256"]),
                lang=str(item.get("lang", "")),
                labels=labels,
                skip=skip,
                note=str(item.get("note", "")),
            )
        )
    return Manifest(path=path, entries=tuple(entries), text_dir=data.get("text_dir"))


# The project's layout: read-only material beside the checkout, in ../shared.
SHARED_SEEDS = Path("..") / "shared" / "seeds"


def text_search_path(manifest: Manifest, explicit: Path | None = None) -> list[Path]:
    dirs: list[Path] = []
    if explicit is not None:
        dirs.append(explicit)
    if manifest.text_dir:
        dirs.append((manifest.path.parent / manifest.text_dir).resolve())
    dirs.append(manifest.path.parent)
    from_environment = environment.seeds_dir()
    if from_environment is not None:
        dirs.append(from_environment)
    dirs.append(SHARED_SEEDS)
    return dirs


@dataclass(frozen=True)
class Passage:
    seed: str  # file name
    number: int  # 1-based
    text: str
    topics: tuple[str, ...]  # empty: off-topic


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_seed_passages(manifest: Manifest, search: Sequence[Path]) -> tuple[list[Passage], dict[str, str]]:
    """Labelled passages of every seed, and each seed file's sha256."""
    passages: list[Passage] = []
    hashes: dict[str, str] = {}
    for entry in manifest.entries:
        found = next((d / entry.file for d in search if (d / entry.file).is_file()), None)
        if found is None:
            where = ", ".join(str(d) for d in search)
            raise SeedError(f"seed {entry.file} not found (searched {where}); use --seeds-text DIR")
        digest = sha256_file(found)
        if entry.sha256 and digest != entry.sha256:
            raise SeedError(
                f"seed {found}: sha256 {digest} differs from the manifest's {entry.sha256}; "
                "its passages would not be the ones labelled"
            )
        hashes[entry.file] = digest
        texts = split_passages(found.read_text(encoding="utf-8"))
        unknown = [p for p in (*entry.labels, *entry.skip) if p > len(texts)]
        if unknown:
            raise SeedError(f"seed {entry.file}: passages {unknown} do not exist (it has {len(texts)})")
        for number, text in enumerate(texts, 1):
            if number in entry.skip:
                continue
            passages.append(Passage(entry.file, number, text, entry.labels.get(number, ())))
    return passages, hashes
