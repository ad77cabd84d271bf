"""The service's database, the record of truth for every job: one object per concern
(:class:`Store` holds them), each in its own module with its statements beside it."""

from __future__ import annotations

from ..identity import Owner
from .accept import Accepted, QueueLimits
from .callbacks import Callbacks, PendingCallback
from .database import Database
from .jobs import Jobs
from .lti import Lti
from .pages import Pages
from .reads import Reads
from .records import EventRecord, JobRecord, NewJob, Stats, TokenRecord
from .stats import read_stats
from .tables import STATUSES, JobStatus
from .tokens import Tokens


class Store:
    """The database and its parts: ``jobs`` (transitions), ``tokens`` (courses, tokens,
    secrets), ``callbacks`` (deliveries), ``reads`` (what the API shows), ``pages``
    (the student pages' keys and token), ``lti`` (platforms, launches, grades)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = Database(url)
        self.jobs = Jobs(self.db)
        self.tokens = Tokens(self.db)
        self.callbacks = Callbacks(self.db)
        self.reads = Reads(self.db)
        self.pages = Pages(self.db)
        self.lti = Lti(self.db)

    def stats(self) -> Stats:
        return read_stats(self.db)

    def close(self) -> None:
        self.db.close()


__all__ = [
    "STATUSES",
    "Accepted",
    "EventRecord",
    "JobRecord",
    "JobStatus",
    "NewJob",
    "Owner",
    "PendingCallback",
    "QueueLimits",
    "Stats",
    "Store",
    "TokenRecord",
]
