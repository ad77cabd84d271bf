"""Prometheus metrics, read from the database at each scrape.

Workers may run in other processes on other machines, so counters kept in
the API's memory would miss their work; the job table has it all. Jobs by
status, queue depth, grading seconds and infrastructure errors therefore
come from one query each time ``/metrics`` is scraped.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .store import Store


class JobCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        stats = self.store.stats()
        depth = GaugeMetricFamily("grader_queue_depth", "Jobs accepted and not yet graded.")
        depth.add_metric([], stats.by_status["queued"])
        yield depth
        jobs = GaugeMetricFamily("grader_jobs", "Jobs by status.", labels=["status"])
        for status, count in stats.by_status.items():
            jobs.add_metric([status], count)
        yield jobs
        cumulative = [(str(bound), count) for bound, count in stats.grading_buckets]
        histogram = HistogramMetricFamily(
            "grader_grading_seconds", "Seconds from claim to recorded verdict, per job."
        )
        histogram.add_metric(
            [], [*cumulative, ("+Inf", stats.grading_count)], sum_value=stats.grading_sum
        )
        yield histogram
        errors = CounterMetricFamily(
            "grader_infrastructure_errors", "Infrastructure errors met while grading (retried)."
        )
        errors.add_metric([], stats.infra_errors)
        yield errors
        callbacks = GaugeMetricFamily(
            "grader_callbacks", "Jobs by callback delivery status.", labels=["status"]
        )
        for status, count in sorted(stats.callbacks.items()):
            callbacks.add_metric([status], count)
        yield callbacks


def metrics_text(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def make_registry(store: Store) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobCollector(store))
    return registry
