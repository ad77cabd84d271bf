"""Counts for /metrics, read from the database so every worker's work is included."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, select

from .database import Database
from .records import Histogram, Stats
from .tables import Job

GRADING_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
QUEUE_WAIT_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def _histogram_columns(value: Any, buckets: Sequence[float]) -> list[Any]:
    return [
        func.count(),
        func.coalesce(func.sum(value), 0.0),
        *(func.sum(case((value <= bound, 1), else_=0)) for bound in buckets),
    ]


def _histogram(row: Sequence[Any], buckets: Sequence[float]) -> Histogram:
    counts = [(bound, int(n or 0)) for bound, n in zip(buckets, row[2:], strict=True)]
    return Histogram(counts, int(row[0]), float(row[1]))


def read_stats(db: Database) -> Stats:
    wait = Job.started_at - Job.created_at  # to the first claim (started_at is kept)
    with db.read_session() as session:
        jobs = session.execute(
            select(Job.course, Job.status, func.count()).group_by(Job.course, Job.status)
        )
        outcomes = session.execute(
            select(Job.course, Job.outcome, func.count())
            .where(Job.outcome.is_not(None))
            .group_by(Job.course, Job.outcome)
        )
        callbacks = session.execute(
            select(Job.callback_status, func.count()).group_by(Job.callback_status)
        )
        grading = session.execute(
            select(*_histogram_columns(Job.grading_seconds, GRADING_BUCKETS)).where(
                Job.grading_seconds.is_not(None)
            )
        ).one()
        waits = session.execute(
            select(Job.course, *_histogram_columns(wait, QUEUE_WAIT_BUCKETS))
            .where(Job.started_at.is_not(None))
            .group_by(Job.course)
        )
        infra = session.scalar(select(func.coalesce(func.sum(Job.infra_errors), 0)))
        return Stats(
            jobs={(course, status): n for course, status, n in jobs},
            outcomes={(course, str(outcome)): n for course, outcome, n in outcomes},
            infra_errors=int(infra or 0),
            callbacks={status: n for status, n in callbacks},
            grading=_histogram(grading, GRADING_BUCKETS),
            queue_wait={row[0]: _histogram(row[1:], QUEUE_WAIT_BUCKETS) for row in waits},
        )
