"""``/metrics`` in the Prometheus text format (``prometheus-client``).

Read from the database at each scrape (see ``monitor.storage.stats``): the
polls, classifications and sends happen in other processes. The latency
histograms cover the last hour (gauge histograms: ``histogram_quantile``
applies to the buckets directly, without ``rate``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import utcnow
from monitor.storage.stats import pipeline_stats

LATENCY_WINDOW = timedelta(hours=1)
CLASSIFICATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)
DELIVERY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _histogram(
    name: str, documentation: str, values: Sequence[float], bounds: Iterable[float]
) -> GaugeHistogramMetricFamily:
    ordered = sorted(values)
    buckets = [(str(float(bound)), bisect.bisect_right(ordered, bound)) for bound in bounds]
    buckets.append(("+Inf", len(ordered)))
    return GaugeHistogramMetricFamily(name, documentation, buckets=buckets, gsum_value=sum(ordered))


class PipelineCollector(Collector):
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def collect(self) -> Iterator[Metric]:
        with self.factory() as session:
            stats = pipeline_stats(session, now=utcnow(), window=LATENCY_WINDOW)
        polls = CounterMetricFamily(
            "monitor_polls", "Feed polls that finished, by outcome.", labels=["outcome"]
        )
        for outcome, count in stats.polls.items():
            polls.add_metric([outcome], count)
        yield polls
        feeds = GaugeMetricFamily("monitor_feeds", "Feeds by status.", labels=["status"])
        for status, count in stats.feeds.items():
            feeds.add_metric([status], count)
        yield feeds
        yield GaugeMetricFamily(
            "monitor_feeds_failing", "Active feeds whose last poll failed.", value=stats.feeds_failing
        )
        yield GaugeMetricFamily("monitor_articles", "Stored articles.", value=stats.articles)
        yield GaugeMetricFamily(
            "monitor_articles_pending", "Stored articles not classified yet.", value=stats.articles_pending
        )
        matches = GaugeMetricFamily("monitor_matches", "Stored matches, by topic.", labels=["topic"])
        for topic, count in sorted(stats.matches.items()):
            matches.add_metric([topic], count)
        yield matches
        deliveries = GaugeMetricFamily("monitor_deliveries", "Alert deliveries, by state.", labels=["state"])
        for state, count in stats.deliveries.items():
            deliveries.add_metric([state], count)
        yield deliveries
        yield GaugeMetricFamily(
            "monitor_outbox_lag_seconds",
            "How long the oldest due alert delivery has waited (0 when none waits).",
            value=stats.outbox_lag,
        )
        yield GaugeMetricFamily(
            "monitor_classification_lag_seconds",
            "How long the oldest unclassified article has waited (0 when none waits).",
            value=stats.classification_lag,
        )
        yield _histogram(
            "monitor_classification_latency_seconds",
            "Seconds from fetching an article to classifying it, articles classified in the last hour.",
            stats.classification_latencies,
            CLASSIFICATION_BUCKETS,
        )
        yield _histogram(
            "monitor_delivery_latency_seconds",
            "Seconds from a match to its alert being sent, alerts sent in the last hour.",
            stats.delivery_latencies,
            DELIVERY_BUCKETS,
        )


def metrics_text(factory: sessionmaker[Session]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(factory))
    return generate_latest(registry)
