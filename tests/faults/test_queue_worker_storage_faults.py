"""Queue, worker and storage faults on real processes (reliability.md Part 3 C, cases 21-28).

Each test starts its own redis-server, Celery worker(s) and beat(s) on a fresh
PostgreSQL schema, injects one fault with ``kill -9`` of a PID it started (or
by scripting a loopback server), and holds the system to the contract of
reliability.md 2.4: no alert lost, no duplicate caused by our retries or by
redeliveries, and at most one duplicate, logged with its dedupe key, in the
single ambiguous case where the provider took the alert and we never saw its
answer. The scenarios live in ``tests/faults/scenarios.py`` and are shared
with ``bench/faults.py``.

Case 27 (notifier failures) is covered in tests/alerting; here only its
SMTP-down-then-up variant runs through the real worker. The storage half of
case 28 (concurrent writers) is in tests/storage/test_db.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from monitor.ingest.poll import MAX_POLL_ATTEMPTS
from tests.faults import scenarios
from tests.faults.conftest import MakeRig
from tests.faults.harness import FaultResult, story
from tests.support.processes import REPO_ROOT, _env

pytestmark = pytest.mark.slow


def assert_exactly_once(result: FaultResult) -> None:
    assert (result.lost, result.duplicated, result.ambiguous) == (0, 0, 0), result.line()
    assert result.delivered == result.expected, result.line()
    assert result.metrics["db_matches"] == result.expected, result.line()
    assert result.metrics["db_deliveries"] == result.expected, result.line()


def test_case21_pool_child_killed_mid_task(make_rig: MakeRig) -> None:
    """kill -9 of the pool child mid-poll: reject_on_worker_lost requeues the
    message at once, the re-run (same task id, so same lease owner) resumes
    the poll, and the database keys make the result exactly once."""
    result = scenarios.case21_child_killed_mid_poll(make_rig())
    assert_exactly_once(result)
    assert result.metrics["feed_fetches"] == 2, result.line()  # the poll ran again, once
    assert result.metrics["worker_lost_errors"] >= 1, result.line()
    assert result.metrics["redelivered_after_s"] < 10, result.line()  # requeued at once, not after VT
    assert result.metrics["worker_alive"]


def test_case21_pool_child_killed_mid_send(make_rig: MakeRig) -> None:
    """kill -9 of the pool child after the webhook received the POST but
    before it answered: the documented ambiguous send. The re-run task finds
    the delivery claimed; once the claim's lease expires the sweep sends it
    again and logs the dedupe key. The provider sees exactly 2 copies (it did
    receive the first one), never more."""
    rig = make_rig()
    result = scenarios.crash_during_send(rig, whole_worker=False)
    link = story("s", 1).link
    assert rig.receipts()[link or ""] == 2, result.line()
    assert (result.lost, result.duplicated, result.ambiguous) == (0, 0, 1), result.line()
    assert result.metrics["duplicate_logged"] == 1, result.line()
    assert result.metrics["attempts"] == 2, result.line()
    assert (result.metrics["db_matches"], result.metrics["db_deliveries"]) == (1, 1)
    assert result.metrics["worker_alive"]


def test_case22_whole_worker_killed_mid_task(make_rig: MakeRig) -> None:
    """kill -9 of the worker's main process and children mid-poll, then a new
    worker. Whichever comes first re-drives the poll: kombu restoring the
    unacked message after the visibility timeout, or the database: the feed's
    lease (1.5 x poll_time_limit = 10.5 s) expires and the next tick polls it."""
    result = scenarios.case22_worker_killed_mid_poll(make_rig())
    assert_exactly_once(result)
    assert result.metrics["feed_fetches"] == 2, result.line()
    assert result.metrics["redriven_after_s"] <= 15 + 2, result.line()  # VT + 2 s
    assert result.metrics["worker_alive"]


def test_case22_production_visibility_timeout_covers_twice_the_time_limits() -> None:
    """The Celery app the shipped monitor.yaml builds: every hard time limit,
    global or per task, is at most half the Redis visibility timeout, and the
    redelivery settings are those of reliability.md 2.1."""
    probe = (
        "import json; from workers.app import app; import workers.tasks; "
        "c = app.conf; "
        "print(json.dumps({'vt': c.broker_transport_options['visibility_timeout'], "
        "'task_time_limit': c.task_time_limit, 'soft': c.task_soft_time_limit, "
        "'acks_late': c.task_acks_late, 'reject': c.task_reject_on_worker_lost, "
        "'prefetch': c.worker_prefetch_multiplier, "
        "'cancel_on_loss': c.worker_cancel_long_running_tasks_on_connection_loss, "
        "'max_mem': c.worker_max_memory_per_child, "
        "'tasks': {n: [t.time_limit, t.soft_time_limit] for n, t in app.tasks.items() "
        "if n.startswith('monitor.')}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        env=_env(REPO_ROOT / "monitor.yaml"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    conf = json.loads(out.strip().splitlines()[-1])
    assert conf["acks_late"] is True and conf["reject"] is True and conf["prefetch"] == 1
    assert conf["cancel_on_loss"] is True and conf["max_mem"]
    assert conf["vt"] >= 2 * conf["task_time_limit"], conf
    assert conf["soft"] < conf["task_time_limit"]
    assert set(conf["tasks"]) >= {"monitor.tick", "monitor.poll_feed", "monitor.classify", "monitor.deliver"}
    for name, (hard, soft) in conf["tasks"].items():
        assert hard is not None and soft is not None and soft < hard, (name, hard, soft)
        assert conf["vt"] >= 2 * hard, (name, hard, conf["vt"])


def test_case23_poison_feed_is_parked_after_n_deliveries(make_rig: MakeRig) -> None:
    """Every poll of one feed kills its pool child (an OOM kill, played by the
    test). reject_on_worker_lost requeues it each time; the database counter
    stops the loop: after MAX_POLL_ATTEMPTS fetches the next delivery parks
    the feed with a clear error and one operator notice. The other feed keeps
    being polled and alerted meanwhile."""
    result = scenarios.case23_poison_feed(make_rig())
    assert result.metrics["parked"], result.line()
    assert result.metrics["kills"] == MAX_POLL_ATTEMPTS, result.line()
    assert result.metrics["poison_fetches"] == MAX_POLL_ATTEMPTS, result.line()
    assert "poll did not finish 3 times in a row" in result.metrics["poison_error"]
    assert result.metrics["poison_next_check_in_s"] >= 3600, result.line()  # parked, not looping
    assert result.metrics["notices"] == 1 and result.metrics["ops_messages"] == 1, result.line()
    assert result.metrics["healthy_fetches"] >= 2, result.line()
    assert result.metrics["queue_length"] <= 2, result.line()  # the queue drains (a tick may be in flight)
    assert_exactly_once(result)  # the healthy feed's two alerts
    assert result.metrics["worker_alive"]


def test_case24_hard_time_limit(make_rig: MakeRig) -> None:
    """poll_time_limit 3 s on a feed whose first answer drips for 10 s. The
    soft limit (0.8 x hard) fires first and the poll records it as the feed's
    error: lease released, no article written, the hard limit never needed.
    The feed is polled again at a later tick and its items arrive once."""
    result = scenarios.case24_time_limit(make_rig())
    assert (result.metrics["error"] or "").startswith("poll timed out: SoftTimeLimitExceeded"), result.line()
    assert result.metrics["lease_released"], result.line()
    assert result.metrics["articles_after_failure"] == 0, result.line()  # no half-written entries
    assert result.metrics["failed_after_s"] < 3 + 1, result.line()
    assert result.metrics["soft_limit_logged"] and not result.metrics["hard_limit_logged"], result.line()
    assert result.metrics["articles_final"] == 3, result.line()
    assert_exactly_once(result)
    assert result.metrics["worker_alive"]


@pytest.mark.parametrize("aof", [False, True], ids=["no-persistence", "aof"])
def test_case25_redis_crash_and_restart(make_rig: MakeRig, aof: bool) -> None:
    """kill -9 of redis-server with polls queued and one running, restarted
    5 s later on the same port. Worker and beat reconnect without exiting;
    the running poll is cancelled by the worker and re-driven by its lease;
    queued polls lost without AOF are re-queued by the next ticks; every
    match is delivered exactly once (the outbox lives in SQL)."""
    result = scenarios.case25_redis_crash(make_rig(appendonly=aof), aof=aof)
    assert result.metrics["worker_alive"] and result.metrics["beat_alive"], result.line()
    assert result.metrics["worker_reconnected_after_s"] <= 30, result.line()
    assert result.metrics["beat_publishing_after_s"] <= 30, result.line()
    assert result.metrics["queued_before"] >= 2, result.line()
    if aof:
        assert result.metrics["queued_after_restart"] >= result.metrics["queued_before"], result.line()
    assert_exactly_once(result)


def test_case26_two_beats(make_rig: MakeRig) -> None:
    """Two beats for ~20 s double every tick, and one poll message is sent
    twice at once: the lease makes the duplicate polls no-ops, so every fetch
    belongs to one completed poll and each alert goes out once."""
    result = scenarios.case26_two_beats(make_rig())
    assert_exactly_once(result)
    per_beat = result.metrics["ticks_sent_per_beat"]
    assert len(per_beat) == 2 and min(per_beat) >= 10, result.line()  # both beats ticked all along
    assert result.metrics["ticks_run"] >= 1.5 * min(per_beat), result.line()  # ticks doubled
    assert result.metrics["polls_skipped"] >= 1, result.line()
    assert result.metrics["feed_fetches"] == result.metrics["polls_completed"], result.line()
    assert result.metrics["polls_completed"] <= 20 / 3 + 3, result.line()  # polls did not double
    assert result.metrics["worker_alive"]


def test_case27_smtp_down_then_up_through_the_worker(make_rig: MakeRig) -> None:
    """The SMTP server refuses connections for two attempts, then comes back:
    the outbox row backs off as pending and is sent exactly once."""
    rig = make_rig(smtp=True)
    result = scenarios.case27_smtp_down_then_up(rig)
    assert_exactly_once(result)
    assert rig.smtp is not None and len(rig.smtp.messages) == 1
    assert result.metrics["failed_attempts"] >= 2
    assert result.metrics["attempts"] == result.metrics["failed_attempts"] + 1, result.line()
    assert result.metrics["sent_after_up_s"] <= 15, result.line()
    assert result.metrics["worker_alive"]


def test_case28_crash_between_send_and_mark_sent(make_rig: MakeRig) -> None:
    """kill -9 of the whole worker after the webhook received the POST and
    before it answered; a new worker starts. The delivery's claim expires
    (alerts.lease 8 s), the sweep sends it again and logs the duplicate with
    its dedupe key: the provider sees exactly 2 deliveries, never more."""
    rig = make_rig()
    result = scenarios.crash_during_send(rig, whole_worker=True)
    assert rig.receipts()[story("s", 1).link or ""] == 2, result.line()
    assert (result.lost, result.duplicated, result.ambiguous) == (0, 0, 1), result.line()
    assert result.metrics["duplicate_logged"] == 1, result.line()
    assert result.metrics["attempts"] == 2, result.line()
    assert (result.metrics["db_matches"], result.metrics["db_deliveries"]) == (1, 1)
    assert result.metrics["worker_alive"]


def test_digest_worker_killed_mid_send_and_redis_restarted(make_rig: MakeRig) -> None:
    """A three-part digest, the whole worker and redis-server killed while
    the webhook holds part 2: the digest is resumed at part 2 by the next
    worker once its claim expires and finished with part 3. Part 1 and part
    3 arrive exactly once; part 2 (the one in flight) at most twice, the
    second time logged with the digest's dedupe key; nothing is lost."""
    rig = make_rig()
    result = scenarios.digest_worker_killed_mid_send_and_redis_restarted(rig)
    assert (result.lost, result.duplicated) == (0, 0), result.line()
    assert result.delivered == result.expected == 3, result.line()
    receipts = result.metrics["receipts"]
    assert receipts[1] == 1 and receipts[3] == 1, result.line()
    assert receipts[2] == 1 + result.ambiguous and result.ambiguous <= 1, result.line()
    assert result.metrics["digest_state"] == "sent" and result.metrics["parts_sent"] == 3, result.line()
    assert result.metrics["worker_alive"]
