"""Prometheus metrics, read from the database at each scrape.

Workers may run in other processes on other machines, so counters kept in
the API's memory would miss their work; the job table has it all. Jobs by
course and status, verdicts by course and outcome, queue wait by course,
grading seconds and infrastructure errors therefore come from the database
each time ``/metrics`` is scraped.
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

from .db import Store
from .db.records import Histogram


def _buckets(histogram: Histogram) -> list[tuple[str, float]]:
    return [*((str(b), n) for b, n in histogram.buckets), ("+Inf", histogram.count)]


class JobCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        stats = self.store.stats()
        depth = GaugeMetricFamily("grader_queue_depth", "Jobs accepted and not yet claimed.")
        depth.add_metric([], sum(n for (_, s), n in stats.jobs.items() if s == "queued"))
        yield depth
        jobs = GaugeMetricFamily(
            "grader_jobs", "Jobs by course and status.", labels=["course", "status"]
        )
        for (course, status), count in sorted(stats.jobs.items()):
            jobs.add_metric([course, status], count)
        yield jobs
        outcomes = CounterMetricFamily(
            "grader_outcomes",
            "Finished jobs by course and outcome (passed, failed, not-gradable, superseded).",
            labels=["course", "outcome"],
        )
        for (course, outcome), count in sorted(stats.outcomes.items()):
            outcomes.add_metric([course, outcome], count)
        yield outcomes
        wait = HistogramMetricFamily(
            "grader_queue_wait_seconds",
            "Seconds from acceptance to the first claim, per job, by course.",
            labels=["course"],
        )
        for course, histogram in sorted(stats.queue_wait.items()):
            wait.add_metric([course], _buckets(histogram), sum_value=histogram.total)
        yield wait
        grading = HistogramMetricFamily(
            "grader_grading_seconds", "Seconds from claim to recorded verdict, per job."
        )
        grading.add_metric([], _buckets(stats.grading), sum_value=stats.grading.total)
        yield grading
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
