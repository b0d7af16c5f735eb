"""Fault injection on real processes: what each queue, worker or storage fault
(reliability.md Part 3 C, cases 21-28) loses or duplicates.

Runs the very scenarios of tests/faults (``tests/faults/scenarios.py``): a
throwaway redis-server, Celery worker(s) and beat(s) as subprocesses, a fresh
schema in a database of its own on the machine's PostgreSQL
(``MONITOR_TEST_POSTGRES_URL``, as the tests), loopback feed, webhook and SMTP
servers. Every process it starts is ended by its PID.

    .venv/bin/python bench/faults.py            # every case, about 3.5 minutes
    .venv/bin/python bench/faults.py 23 28      # some of them (names below)

For each fault it prints what was injected, the alerts expected, delivered,
lost and duplicated (the goal: 0 and 0), the documented ambiguous duplicates
(a send the provider accepted but whose answer we never saw: at most one,
logged with its dedupe key) and the case's own figures (recovery times,
fetches, kills). The exit status is 1 if anything was lost or duplicated
outside the documented case, or a case did not recover in its bounded wait.

The ingest path (parse + normalise of the peer corpus: outcomes, times, peak
RSS) is measured by bench/ingest.py; this script covers the processes around it.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.faults import scenarios  # noqa: E402
from tests.faults.harness import FaultResult, Rig  # noqa: E402
from tests.support.databases import throwaway_postgres  # noqa: E402

Scenario = Callable[[Rig], FaultResult]

CASES: dict[str, tuple[Scenario, dict[str, bool]]] = {
    "21": (scenarios.case21_child_killed_mid_poll, {}),
    "21-send": (lambda rig: scenarios.crash_during_send(rig, whole_worker=False), {}),
    "22": (scenarios.case22_worker_killed_mid_poll, {}),
    "23": (scenarios.case23_poison_feed, {}),
    "24": (scenarios.case24_time_limit, {}),
    "25": (lambda rig: scenarios.case25_redis_crash(rig, aof=False), {}),
    "25-aof": (lambda rig: scenarios.case25_redis_crash(rig, aof=True), {"appendonly": True}),
    "26": (scenarios.case26_two_beats, {}),
    "27-smtp": (scenarios.case27_smtp_down_then_up, {"smtp": True}),
    "28": (lambda rig: scenarios.crash_during_send(rig, whole_worker=True), {}),
    "digest": (scenarios.digest_worker_killed_mid_send_and_redis_restarted, {}),
}


def main(argv: list[str]) -> int:
    selected = argv or list(CASES)
    unknown = [name for name in selected if name not in CASES]
    if unknown:
        print(f"unknown case(s) {unknown}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    results: list[tuple[FaultResult, float, bool]] = []
    with throwaway_postgres("nm_faults") as db_url, tempfile.TemporaryDirectory(prefix="nm-faults-") as tmp:
        for name in selected:
            scenario, options = CASES[name]
            workdir = Path(tmp) / name
            workdir.mkdir()
            started = time.monotonic()
            recovered = True
            try:
                with Rig(workdir, db_url, **options) as rig:
                    result = scenario(rig)
            except AssertionError as exc:  # a bounded wait ran out: the system did not recover
                recovered = False
                result = FaultResult(name, "(see error)", metrics={"did_not_recover": str(exc)})
            elapsed = time.monotonic() - started
            results.append((result, elapsed, recovered))
            print(f"{result.line()}\n    ({elapsed:.0f} s)", flush=True)

    print("\n| case | expected | delivered | lost | duplicated | documented ambiguous | recovered |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    bad = False
    for result, _elapsed, recovered in results:
        print(
            f"| {result.case} | {result.expected} | {result.delivered} | {result.lost} | "
            f"{result.duplicated} | {result.ambiguous} | {'yes' if recovered else 'NO'} |"
        )
        bad = bad or not recovered or result.lost > 0 or result.duplicated > 0
    print(
        f"\ntotal lost {sum(r.lost for r, _, _ in results)}, duplicated {sum(r.duplicated for r, _, _ in results)}"
    )
    if (ROOT / "bench" / "ingest.py").exists():
        print("ingest path figures (parse + normalise of the peer corpus): bench/ingest.py")
    return 1 if bad else 0


if __name__ == "__main__":
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the finally blocks stop
    # the workers, beats and redis-servers this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main(sys.argv[1:]))
