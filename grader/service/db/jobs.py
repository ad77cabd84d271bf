"""Every job state transition, each one a short transaction.

The queue (a thread pool or Celery) only says "there is work"; whoever takes a
message must first win :meth:`Jobs.claim_next`, a conditional UPDATE, so a
redelivered or duplicated message never grades a job twice at once, and
:meth:`Jobs.finish` records a result only for a job not yet done, so a result
is recorded exactly once.

The claim also decides *which* job: the oldest queued job of the course served
longest ago. So courses take turns (a burst from one course delays another's
job by at most one grading per worker), and a job put back in the queue keeps
its place, since it is older than everything its course accepted after it.
A job whose worker vanished is put back at once when that worker's process
was on this machine and is gone (:meth:`Jobs.requeue_orphans`), otherwise when
its lease expires (:meth:`Jobs.requeue_expired`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import ServiceError
from ..identity import Owner
from .accept import Accepted, Batch, QueueLimits, duplicate_of
from .database import Database, add_event
from .records import JobRecord, NewJob
from .tables import JOBS, Course, Job

_NEXT = (
    select(Job.id, Job.course)
    .join(Course, Course.name == Job.course)
    .where(Job.status == "queued")
    .order_by(func.coalesce(Course.served_at, 0.0), Job.created_at)
    .limit(1)
    .with_for_update(of=Job, skip_locked=True)  # PostgreSQL: claims never wait on each other
)
_ANY_QUEUED = select(Job.id).where(Job.status == "queued").limit(1)
CLAIM_RETRY_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.0)


class Jobs:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- accepting ----------------------------------------------------------

    def create(self, news: Sequence[NewJob], limits: QueueLimits,
               *, dispatched: bool = False) -> list[Accepted | ServiceError]:  # fmt: skip
        """Accept several submissions in one transaction (a group commit); see :mod:`.accept`.

        ``dispatched``: the caller hands the new jobs over itself (noted as sent).
        """
        try:
            with self.db.session() as session:
                return Batch(session.connection(), list(news), limits, dispatched).accept_all()
        except IntegrityError:
            if len(news) > 1:  # a concurrent writer (another API process): one at a time
                return [self.create([new], limits, dispatched=dispatched)[0] for new in news]
            # The same Idempotency-Key raced us: the other request's job stands.
            with self.db.session() as session:
                existing = duplicate_of(session.connection(), news[0])
                if existing is None:
                    raise
                return [(existing, False)]

    def create_one(self, new: NewJob, limits: QueueLimits) -> Accepted:
        result = self.create([new], limits)[0]
        if isinstance(result, ServiceError):
            raise result
        return result

    # -- grading ------------------------------------------------------------

    def claim_next(self, worker: str, owner: Owner, lease_seconds: float) -> JobRecord | None:
        """Take the next job in fair order for ``worker`` (of process ``owner``); None if
        none is queued.

        On PostgreSQL a claim skips the rows other transactions hold locked (another
        claim's, or a short bookkeeping update's): when that leaves nothing while jobs
        are queued, it tries again shortly, so a message is not spent on finding nothing.
        """
        for pause in CLAIM_RETRY_PAUSES:
            claimed = self._claim_once(worker, owner, lease_seconds)
            if claimed is not None or not self._any_queued():
                return claimed
            time.sleep(pause)
        return None

    def _any_queued(self) -> bool:
        with self.db.read_session() as session:
            return session.execute(_ANY_QUEUED).first() is not None

    def _claim_once(self, worker: str, owner: Owner, lease_seconds: float) -> JobRecord | None:
        now = time.time()
        with self.db.session() as session:
            picked = session.execute(_NEXT).first()
            if picked is None:
                return None
            job_id, course = picked
            taken = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(
                    status="running",
                    lease_owner=worker,
                    lease_expires=now + lease_seconds,
                    owner_host=owner.host,
                    owner_boot=owner.boot,
                    owner_pid=owner.pid,
                    owner_start=owner.start,
                    attempts=Job.attempts + 1,
                    started_at=func.coalesce(Job.started_at, now),
                )
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return None
            session.execute(update(Course).where(Course.name == course).values(served_at=now))
            add_event(session, job_id, "claimed", worker)
            row = session.execute(select(JOBS).where(JOBS.c.id == job_id)).mappings().one()
            return JobRecord.of(row, with_source=True)

    def renew(self, job_id: str, worker: str, lease_seconds: float) -> bool:
        """Extend the lease; False when the job is no longer this worker's."""
        with self.db.session() as session:
            renewed = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running", Job.lease_owner == worker)
                .values(lease_expires=time.time() + lease_seconds)
            )
            return bool(renewed.rowcount == 1)  # type: ignore[attr-defined]

    def note_infra_error(self, job_id: str, worker: str, message: str) -> None:
        with self.db.session() as session:
            session.execute(
                update(Job).where(Job.id == job_id).values(infra_errors=Job.infra_errors + 1)
            )
            add_event(session, job_id, "infrastructure-error", worker, message[:2000])

    def finish(self, job_id: str, worker: str, feedback_json: str, outcome: str,
               seconds: float) -> bool:  # fmt: skip
        """Record the verdict unless one is recorded already (exactly once)."""
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.status in ("done", "superseded"):
                add_event(session, job_id, "duplicate-result-dropped", worker)
                return False
            job.status, job.outcome, job.feedback_json = "done", outcome, feedback_json
            job.gradable = outcome != "not-gradable"
            job.finished_at, job.grading_seconds = time.time(), seconds
            job.lease_owner = job.lease_expires = None
            job.source = b""  # graded: the bytes are no longer needed (sha256 stays)
            if job.callback_url:
                job.callback_status = "pending"
            add_event(session, job_id, "done", worker, outcome)
            return True

    def release(self, job_id: str, worker: str) -> bool:
        """Give a running job back to the queue (graceful stop)."""
        return self._requeue(job_id, "released", worker, Job.lease_owner == worker)

    # -- recovery -----------------------------------------------------------

    def requeue_expired(self) -> list[str]:
        """Jobs whose worker stopped renewing its lease, back to ``queued``."""
        now = time.time()
        with self.db.read_session() as session:
            ids = list(
                session.scalars(
                    select(Job.id).where(Job.status == "running", Job.lease_expires < now)
                )
            )
        expired = Job.lease_expires < now
        return [i for i in ids if self._requeue(i, "lease-expired-requeued", None, expired)]

    def requeue_orphans(self, here: Owner) -> list[str]:
        """Jobs held by a process of this host that no longer exists, back to ``queued``
        at once (a restarted service or worker does not wait for their leases)."""
        with self.db.read_session() as session:
            rows = session.execute(
                select(Job.id, Job.owner_boot, Job.owner_pid, Job.owner_start).where(
                    Job.status == "running", Job.owner_host == here.host
                )
            ).all()
        requeued = []
        for job_id, boot, pid, start in rows:
            owner = Owner(here.host, boot or "", pid or 0, start or 0)
            same_owner = (Job.owner_pid == pid) & (Job.owner_start == start)
            if owner.gone(here) and self._requeue(
                job_id, "owner-gone-requeued", None, same_owner, owner.label()
            ):
                requeued.append(job_id)
        return requeued

    def _requeue(self, job_id: str, kind: str, worker: str | None, condition: object,
                 detail: str | None = None) -> bool:  # fmt: skip
        """``job_id``, if running and ``condition`` holds, back to ``queued`` in its place
        (its acceptance time is kept) and to be handed over again."""
        with self.db.session() as session:
            done = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running", condition)  # type: ignore[arg-type]
                .values(status="queued", lease_owner=None, lease_expires=None, dispatched_at=None)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return False
            add_event(session, job_id, kind, worker, detail)
            return True

    # -- handing over -------------------------------------------------------

    def mark_dispatched(self, job_ids: Sequence[str]) -> None:
        """Note that these jobs were handed over (one statement for all)."""
        if not job_ids:
            return
        with self.db.session() as session:
            session.execute(
                update(Job)
                .where(Job.id.in_(list(job_ids)), Job.status == "queued")
                .values(dispatched_at=time.time())
            )

    def undispatched(self, grace: float, redispatch_after: float) -> list[str]:
        """Queued jobs no queue holds: never handed over (put back, or accepted more than
        ``grace`` s ago), or handed over long ago."""
        now = time.time()
        with self.db.read_session() as session:
            return list(
                session.scalars(
                    select(Job.id)
                    .where(
                        Job.status == "queued",
                        (Job.dispatched_at.is_(None) & (Job.created_at < now - grace))
                        | (Job.dispatched_at < now - redispatch_after),
                    )
                    .order_by(Job.created_at)
                )
            )

    def never_dispatched(self, limit: int = 1000) -> list[tuple[str, float]]:
        """Queued jobs not yet handed over, oldest first, with when each was accepted."""
        with self.db.read_session() as session:
            rows = session.execute(
                select(Job.id, Job.created_at)
                .where(Job.status == "queued", Job.dispatched_at.is_(None))
                .order_by(Job.created_at)
                .limit(limit)
            )
            return [(job_id, created) for job_id, created in rows]

    def queued_ids(self, *, handed_over: bool = False) -> list[str]:
        """Queued jobs, oldest first (``handed_over``: only those noted as handed over)."""
        query = select(Job.id).where(Job.status == "queued").order_by(Job.created_at)
        if handed_over:
            query = query.where(Job.dispatched_at.is_not(None))
        with self.db.read_session() as session:
            return list(session.scalars(query))
