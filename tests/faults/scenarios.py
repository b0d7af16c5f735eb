"""The fault scenarios, shared by tests/faults and bench/faults.py.

Each function takes a started ``Rig``, injects one fault into real processes,
waits (bounded) until the system has recovered, and returns a ``FaultResult``
with what was lost or duplicated plus the figures the tests assert on. The
functions do not judge: the tests hold them to the contract, the bench
prints them.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from celery import Celery

from monitor.storage.story_models import Digest
from tests.faults.harness import RSS, FaultResult, Rig, calm, feed_doc, measure, story
from tests.support.feed_server import FeedServer, route
from tests.support.processes import wait_until

SETTLE = 3.0  # seconds of extra ticks and sweeps after recovery, to catch a late duplicate


def _drip(body: bytes, seconds: float) -> dict[str, object]:
    return {"drip_rate": len(body) / seconds}


def case21_child_killed_mid_poll(rig: Rig) -> FaultResult:
    """kill -9 of the pool child while it fetches a slow feed (E1)."""
    body = feed_doc("a", [story("a", 1), calm("a", 2)])
    rig.feeds.add_sequence("/a.xml", [route(200, body, RSS, drip_rate=len(body) / 4), route(200, body, RSS)])
    url = rig.feeds.url("/a.xml")
    rig.write_config([("A", url, None)])
    worker = rig.start_worker(concurrency=1)
    rig.start_beat()
    killed = rig.kill_busy_child(worker, rig.feeds.port, timeout=40)
    t_kill = time.monotonic()
    wait_until(lambda: rig.feeds.hits("/a.xml") >= 2, 30, what="the poll to run again")
    redelivered = measure(t_kill)
    wait_until(lambda: rig.all_sent(1), 30, what="the alert to be sent")
    time.sleep(SETTLE)
    result = FaultResult(
        "21 pool child killed mid-poll", f"kill -9 of pool child {killed} during a 4 s fetch"
    )
    result.metrics.update(
        redelivered_after_s=redelivered,
        feed_fetches=rig.feeds.hits("/a.xml"),
        worker_lost_errors=rig.log_count("WorkerLostError"),
        worker_alive=worker.poll() is None,
    )
    return rig.account(result, {story("a", 1).link or ""})


def crash_during_send(rig: Rig, *, whole_worker: bool) -> FaultResult:
    """kill -9 (the pool child, or the whole worker) while the webhook holds
    the POST it has fully received: the provider has the alert, we never see
    its answer (the ambiguous send, reliability.md 2.4)."""
    body = feed_doc("s", [story("s", 1)])
    rig.feeds.add_file("/s.xml", body)
    rig.write_config([("S", rig.feeds.url("/s.xml"), None)])
    rig.hook.script("delay:4")  # read the body, hold the answer for 4 s
    worker = rig.start_worker(concurrency=1)
    rig.start_beat()

    def holding() -> bool:
        with rig.hook._cond:  # the step is taken once the body has been read
            return not rig.hook._steps

    wait_until(holding, 40, interval=0.05, what="the webhook to receive the POST")
    if whole_worker:
        rig.kill_worker(worker)
        injected = "kill -9 of the whole worker after the webhook received the POST, before it answered"
    else:
        pid = rig.kill_busy_child(worker, rig.hook.port, timeout=5)
        injected = f"kill -9 of pool child {pid} after the webhook received the POST, before it answered"
    t_kill = time.monotonic()
    if whole_worker:
        worker = rig.start_worker("w2", concurrency=1)
    wait_until(lambda: rig.all_sent(1), 40, what="the delivery to be marked sent")
    resent = measure(t_kill)
    time.sleep(SETTLE)
    (row,) = rig.deliveries()
    case = "28 crash between send and mark-sent" if whole_worker else "21 pool child killed mid-send"
    result = FaultResult(case, injected)
    result.metrics.update(
        resent_after_s=resent,
        attempts=row.attempts,
        dedupe_key=row.dedupe_key,
        duplicate_logged=rig.log_count(f"{row.dedupe_key}: its claim expired"),
        worker_alive=worker.poll() is None,
    )
    return rig.account(result, {story("s", 1).link or ""})


def case22_worker_killed_mid_poll(rig: Rig) -> FaultResult:
    """kill -9 of the whole worker (main + children) mid-poll, then a new worker (E2)."""
    body = feed_doc("b", [story("b", 1), calm("b", 2)])
    rig.feeds.add_sequence("/b.xml", [route(200, body, RSS, drip_rate=len(body) / 5), route(200, body, RSS)])
    rig.write_config([("B", rig.feeds.url("/b.xml"), None)])
    worker = rig.start_worker(concurrency=1)
    rig.start_beat()
    wait_until(lambda: rig.busy_child(worker, rig.feeds.port) is not None, 40, interval=0.05, what="the poll")
    rig.kill_worker(worker)
    t_kill = time.monotonic()
    worker = rig.start_worker("w2", concurrency=1)
    wait_until(lambda: rig.feeds.hits("/b.xml") >= 2, 40, what="the poll to be re-driven")
    redriven = measure(t_kill)
    wait_until(lambda: rig.all_sent(1), 30, what="the alert to be sent")
    time.sleep(SETTLE)
    result = FaultResult(
        "22 whole worker killed mid-poll", "kill -9 of worker main + child during a 5 s fetch"
    )
    result.metrics.update(
        redriven_after_s=redriven,
        feed_fetches=rig.feeds.hits("/b.xml"),
        visibility_timeout_s=15,
        feed_lease_s=7 * 1.5,
        worker_alive=worker.poll() is None,
    )
    return rig.account(result, {story("b", 1).link or ""})


def case23_poison_feed(rig: Rig) -> FaultResult:
    """A feed whose poll kills its worker child every time (an OOM kill, played
    by the test: any pool child connected to the poison feed's server is
    SIGKILLed), beside a healthy feed."""
    poison = FeedServer().start()
    try:
        body = feed_doc("p", [story("p", 1)])
        poison.add_response("/p.xml", 200, body, RSS, drip_rate=len(body) / 10)
        healthy = feed_doc("h", [story("h", 1)])
        rig.feeds.add_file("/h.xml", healthy)
        poison_url, healthy_url = poison.url("/p.xml"), rig.feeds.url("/h.xml")
        rig.write_config(
            [("Poison", poison_url, None), ("Healthy", healthy_url, 3)],
            extra_hosts=[poison.netloc],
        )
        worker = rig.start_worker(concurrency=2)
        rig.start_beat()
        kills = 0
        deadline = time.monotonic() + 60
        parked = False
        while time.monotonic() < deadline and not parked:
            pid = rig.busy_child(worker, poison.port)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                kills += 1

                def gone(victim: int = pid) -> bool:
                    return rig.busy_child(worker, poison.port) != victim

                wait_until(gone, 10, interval=0.05, what="the killed child to go")
            row = rig.find_feed(poison_url)
            parked = row is not None and (row.last_error or "").startswith("poll did not finish")
            time.sleep(0.05)
        wait_until(lambda: len(rig.ops_receipts()) >= 1, 30, what="the operator notice")
        wait_until(lambda: rig.all_sent(1), 30, what="the healthy feed's alert")
        # The healthy feed keeps being polled: a new item there is alerted.
        rig.feeds.set_content("/h.xml", feed_doc("h", [story("h", 2), story("h", 1)]))
        wait_until(lambda: rig.all_sent(2), 30, what="the healthy feed's new alert")
        time.sleep(SETTLE)
        feed = rig.feed(poison_url)
        notices = rig.notices()
        result = FaultResult("23 poison feed", f"every poll of one feed kills its pool child ({kills} kills)")
        result.metrics.update(
            kills=kills,
            poison_fetches=poison.hits("/p.xml"),
            parked=parked,
            poison_error=feed.last_error,
            poison_next_check_in_s=round((feed.next_check_at - feed.last_error_at).total_seconds())
            if feed.last_error_at
            else None,
            notices=len([n for n in notices if n.kind == "feed_failed"]),
            ops_messages=len(rig.ops_receipts()),
            healthy_fetches=rig.feeds.hits("/h.xml"),
            queue_length=rig.queue_length(),
            worker_alive=worker.poll() is None,
        )
        return rig.account(result, {story("h", 1).link or "", story("h", 2).link or ""})
    finally:
        poison.stop()


def case24_time_limit(rig: Rig) -> FaultResult:
    """``poll_time_limit: 3s`` on a feed whose first answer drips for 10 s."""
    body = feed_doc("t", [story("t", 1), calm("t", 2), calm("t", 3)])
    rig.feeds.add_sequence("/t.xml", [route(200, body, RSS, drip_rate=len(body) / 10), route(200, body, RSS)])
    url = rig.feeds.url("/t.xml")
    rig.write_config(
        [("T", url, 4)],
        workers={"poll_time_limit": 3},
    )
    worker = rig.start_worker(concurrency=1)
    rig.start_beat()
    wait_until(lambda: rig.feeds.hits("/t.xml") >= 1, 40, what="the first poll")
    t_first = time.monotonic()
    wait_until(lambda: rig.feed(url).last_error is not None, 15, what="the first poll to fail")
    failed_after = measure(t_first)
    after_failure = rig.feed(url)
    articles_after_failure = rig.counts()["articles"]
    wait_until(lambda: rig.feeds.hits("/t.xml") >= 2, 30, what="the next poll")
    repolled_after = measure(t_first)
    wait_until(lambda: rig.all_sent(1), 30, what="the alert")
    time.sleep(SETTLE)
    result = FaultResult(
        "24 hard time limit", "poll_time_limit 3 s (soft 2.4 s) on a feed that drips for 10 s"
    )
    result.metrics.update(
        failed_after_s=failed_after,
        error=after_failure.last_error,
        lease_released=after_failure.lease_owner is None,
        articles_after_failure=articles_after_failure,
        repolled_after_s=repolled_after,
        articles_final=rig.counts()["articles"],
        soft_limit_logged=rig.log_count("SoftTimeLimitExceeded") > 0,
        hard_limit_logged=rig.log_count("Hard time limit") > 0,
        worker_alive=worker.poll() is None,
    )
    return rig.account(result, {story("t", 1).link or ""})


def case25_redis_crash(rig: Rig, *, aof: bool) -> FaultResult:
    """kill -9 of redis-server with polls queued and one mid-flight, restart after 5 s."""
    names = ["r1", "r2", "r3", "r4"]
    links = set()
    for name in names:
        body = feed_doc(name, [story(name, 1)])
        rig.feeds.add_sequence(
            f"/{name}.xml", [route(200, body, RSS, drip_rate=len(body) / 3), route(200, body, RSS)]
        )
        links.add(story(name, 1).link or "")
    rig.write_config([(name.upper(), rig.feeds.url(f"/{name}.xml"), None) for name in names])
    worker = rig.start_worker(concurrency=1)
    beat = rig.start_beat()
    wait_until(lambda: rig.busy_child(worker, rig.feeds.port) is not None, 40, interval=0.05, what="a poll")
    wait_until(lambda: rig.queue_length() >= 2, 10, interval=0.05, what="polls queued")
    queued_before = rig.queue_length()
    rig.redis.kill()
    t_kill = time.monotonic()
    time.sleep(5)
    rig.redis.start()  # same port, same directory (the AOF, if any)
    queued_after = rig.queue_length()
    marks = rig.log_marks()
    t_up = time.monotonic()
    worker_log, beat_log = rig.logs

    def since(log: Path) -> str:
        return rig.log_since({**marks, **{other: other.stat().st_size for other in rig.logs if other != log}})

    wait_until(lambda: "Connected to redis" in since(worker_log), 40, what="the worker to reconnect")
    worker_back = measure(t_up)

    def beat_publishes() -> bool:
        tail = since(beat_log).rsplit("Couldn't apply scheduled task", 1)[-1]
        return tail.count("Sending due task") >= 2

    wait_until(beat_publishes, 40, what="beat to publish again")
    beat_back = measure(t_up)
    wait_until(
        lambda: re.search(r"Task monitor\.tick\[\S+\] succeeded", since(worker_log)) is not None,
        40,
        what="a tick to run again",
    )
    work_back = measure(t_up)
    wait_until(lambda: rig.all_sent(len(names)), 60, what="every alert to be sent")
    time.sleep(SETTLE)
    mode = "with AOF" if aof else "without persistence"
    result = FaultResult(
        f"25 Redis crash {mode}",
        f"kill -9 redis-server ({queued_before} polls queued, 1 running), restart after 5 s",
    )
    result.metrics.update(
        queued_before=queued_before,
        queued_after_restart=queued_after,
        worker_reconnected_after_s=worker_back,
        beat_publishing_after_s=beat_back,
        ticks_running_after_s=work_back,
        recovered_after_s=measure(t_kill),
        worker_alive=worker.poll() is None,
        beat_alive=beat.poll() is None,
    )
    return rig.account(result, links)


def case26_two_beats(rig: Rig, seconds: float = 20.0) -> FaultResult:
    """Two ``celery beat`` processes for ``seconds``, plus one poll sent twice at once."""
    body = feed_doc("d", [story("d", 1), calm("d", 2)])
    rig.feeds.add_file("/d.xml", body)
    url = rig.feeds.url("/d.xml")
    rig.write_config([("D", url, 3)])
    worker = rig.start_worker(concurrency=2)
    t0 = time.monotonic()
    rig.start_beat("b1")
    rig.start_beat("b2")
    wait_until(lambda: rig.all_sent(1), 30, what="the first alert")
    # Halfway, a new item: it must be alerted once, however many ticks.
    rig.feeds.set_content("/d.xml", feed_doc("d", [story("d", 3), story("d", 1), calm("d", 2)]))
    wait_until(lambda: rig.all_sent(2), 30, what="the new item's alert")
    # The same poll message twice at once (a redelivered or doubled poll).
    rig.make_due(url)
    feed_id = rig.feed(url).id
    client = Celery(broker=rig.redis.url)
    client.conf.update(task_default_queue=rig.queue, task_serializer="json")
    try:
        for _ in range(2):
            client.send_task("monitor.poll_feed", args=[feed_id], queue=rig.queue)
    finally:
        client.close()
    remaining = seconds - (time.monotonic() - t0)
    time.sleep(max(remaining, 4.0))
    elapsed = measure(t0)
    text = rig.log_text()
    beat_sends = [log.read_text(errors="replace").count("Sending due task tick") for log in rig.logs[1:]]
    result = FaultResult(
        "26 two beats", f"2 celery beat processes for {elapsed:.0f} s + one poll sent twice at once"
    )
    result.metrics.update(
        ticks_sent_per_beat=beat_sends,
        ticks_run=len(re.findall(r"Task monitor\.tick\[\S+\] succeeded", text)),
        polls_completed=text.count("polled D:"),
        polls_skipped=text.count("poll of D skipped"),
        feed_fetches=rig.feeds.hits("/d.xml"),
        worker_alive=worker.poll() is None,
    )
    return rig.account(result, {story("d", 1).link or "", story("d", 3).link or ""})


def case27_smtp_down_then_up(rig: Rig) -> FaultResult:
    """The SMTP server is down when the alert is due, up again later."""
    assert rig.smtp is not None
    rig.smtp.stop()
    rig.feeds.add_file("/m.xml", feed_doc("m", [story("m", 1)]))
    rig.write_config([("M", rig.feeds.url("/m.xml"), None)], channels=("mail",))
    worker = rig.start_worker(concurrency=1)
    rig.start_beat()
    wait_until(
        lambda: any(row.attempts >= 2 and row.state == "pending" for row in rig.deliveries("mail")),
        40,
        what="two failed attempts",
    )
    (row,) = rig.deliveries("mail")
    failed_attempts = row.attempts
    rig.smtp.start()
    t_up = time.monotonic()
    wait_until(lambda: rig.all_sent(1, "mail"), 30, what="the mail to be sent")
    sent_after = measure(t_up)
    time.sleep(SETTLE)
    (row,) = rig.deliveries("mail")
    result = FaultResult("27 SMTP down then up (Celery)", "SMTP server stopped until 2 attempts failed")
    result.metrics.update(
        failed_attempts=failed_attempts,
        attempts=row.attempts,
        sent_after_up_s=sent_after,
        worker_alive=worker.poll() is None,
    )
    return rig.account(result, {story("m", 1).link or ""}, channel="mail")


def digest_worker_killed_mid_send_and_redis_restarted(rig: Rig) -> FaultResult:
    """A stored three-part digest; the webhook takes part 1, holds its
    answer to part 2 for 4 s; meanwhile the whole worker is killed (-9) and
    redis-server too. Redis comes back, a new worker starts: the digest's
    claim (alerts.lease 8 s) expires, the sweep resumes at part 2 (the one
    in flight: the documented ambiguous send, logged) and sends part 3."""
    from datetime import timedelta

    from monitor.storage import utcnow

    rig.feeds.add_file("/q.xml", feed_doc("q", [calm("q", 1)]))
    rig.write_config([("Q", rig.feeds.url("/q.xml"), None)])
    now = utcnow()
    parts = [
        {"title": f"news-monitor digest ({n}/3)", "body": f"Digest part {n} of 3", "format": "text"}
        for n in (1, 2, 3)
    ]
    with rig.factory.begin() as session:
        session.add(
            Digest(
                channel="hook",
                period_start=now - timedelta(hours=1),
                period_end=now,
                parts=parts,
                story_count=3,
                next_attempt_at=now,
            )
        )
    rig.hook.script(200, "delay:4")
    worker = rig.start_worker(concurrency=1)
    rig.start_beat()

    def holding_part_two() -> bool:
        with rig.hook._cond:
            return not rig.hook._steps and len(rig.hook.requests) >= 2

    wait_until(holding_part_two, 40, interval=0.05, what="the webhook to hold part 2")
    rig.kill_worker(worker)
    rig.redis.kill()
    t_kill = time.monotonic()
    time.sleep(2)
    rig.redis.start()
    worker = rig.start_worker("w2", concurrency=1)
    wait_until(lambda: rig.digest_rows()[0].state == "sent", 60, what="the digest to be marked sent")
    resumed = measure(t_kill)
    time.sleep(SETTLE)
    result = FaultResult(
        "digest: worker killed mid-send, Redis restarted",
        "kill -9 of the worker and of redis-server while the webhook held part 2 of 3; restart both",
    )
    result.metrics.update(
        resumed_after_s=resumed,
        receipts=dict(sorted(rig.digest_receipts().items())),
        worker_alive=worker.poll() is None,
    )
    return rig.account_digest(result, len(parts))
