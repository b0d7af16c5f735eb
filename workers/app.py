"""The Celery app, configured from monitor.yaml (``$MONITOR_CONFIG``).

Celery with Redis is at-least-once at best (see docs/reliability.md), so the
settings below make redelivery likely rather than loss, and the tasks are
idempotent by database keys:

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a task whose worker
  dies is redelivered, not lost; the per-feed lease and the redelivery
  counter in the database keep that from looping;
* prefetch 1, so a dying worker holds at most one unacked message;
* a soft and a hard time limit on every task, and a Redis visibility timeout
  of at least twice the longest hard limit (validated in the config);
* the beat schedule only ticks; entries expire before the next tick, so a
  backed-up queue does not run stale duplicates;
* polls and the tick go through ``<queue>.poll``, everything else through
  ``<queue>``: a backlog of classification does not hold due feeds back.
"""

from __future__ import annotations

from celery import Celery
from kombu.entity import Exchange, Queue

from monitor.config import Settings, environment, load_config

# Each prefork child embeds with one OpenMP thread: with one child per core,
# children that each spawn a thread per core oversubscribe the CPU, and
# libgomp's spin-waiting makes that far slower than the sum of its parts
# (measured in docs/benchmarks.md). An explicit setting wins.
environment.EMBED_THREADS.set_default("1")


def make_app(settings: Settings) -> Celery:
    app = Celery("news_monitor", include=["workers.tasks"])
    workers = settings.workers
    app.conf.update(
        broker_url=settings.broker_url or "redis://127.0.0.1:6379/0",
        broker_connection_retry=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options={
            "visibility_timeout": workers.visibility_timeout,
            "unacked_restore_interval": workers.unacked_restore_interval,
            "unacked_restore_throttle": workers.unacked_restore_throttle,
        },
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_max_memory_per_child=workers.max_memory_per_child,
        task_default_queue=workers.queue,
        # A worker started without -Q consumes both queues; a deployment
        # runs one on the poll queue with a thread pool (network waits) and
        # one on the main queue with processes (classification is CPU).
        # Each queue bound by its own name (a Queue without them is bound to
        # the default exchange and key: both would get every message).
        task_queues=tuple(
            Queue(name, Exchange(name), routing_key=name)  # type: ignore[no-untyped-call]
            for name in (workers.queue, workers.poll_queue)
        ),
        task_routes={
            "monitor.tick": {"queue": workers.poll_queue},
            "monitor.poll_feed": {"queue": workers.poll_queue},
        },
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_time_limit=workers.longest_time_limit,
        task_soft_time_limit=workers.soft_limit(workers.longest_time_limit),
        timezone="UTC",
        beat_schedule={
            "tick": {
                "task": "monitor.tick",
                "schedule": workers.beat_tick,
                "options": {"expires": workers.beat_tick},
            },
            "sweep": {
                "task": "monitor.sweep",
                "schedule": workers.sweep_interval,
                "options": {"expires": workers.sweep_interval},
            },
            "relearn": {
                "task": "monitor.relearn",
                "schedule": workers.relearn_check,
                "options": {"expires": workers.relearn_check},
            },
            # Digests due (composed once per channel and period) and sent.
            "digests": {
                "task": "monitor.digests",
                "schedule": workers.sweep_interval,
                "options": {"expires": workers.sweep_interval},
            },
            # Retention: old rows deleted in batches (monitor.retention).
            "prune": {
                "task": "monitor.prune",
                "schedule": settings.retention.interval,
                "options": {"expires": settings.retention.interval},
            },
        },
    )
    return app


# Task time limits are fixed when the tasks are declared; the rest of the
# config is re-read by each worker's Runtime when the file changes.
settings = load_config()
app = make_app(settings)
