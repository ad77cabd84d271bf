"""The job table's state transitions: claim, lease, finish once, release, dedupe, limits,
fair order, recovery, tokens.

These run on a real SQLite file and on a real PostgreSQL database (each test twice);
the same transitions guard every worker of every mode, so a bug here would grade a
job twice, lose one, or let one course starve another.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select, update

from grader.service.config import WorkerConfig
from grader.service.db import NewJob, QueueLimits, Store
from grader.service.db.tables import Job
from grader.service.dispatch import Dispatcher, EmbeddedDispatcher, Feeder
from grader.service.errors import IdempotencyConflict, QueueFull, Unauthorized
from grader.service.grading import run_next
from grader.service.identity import Owner
from grader.settings import GradeSettings, Limits

from .service_support import fresh_database

ROOMY = QueueLimits(total=100)
HERE = Owner.current()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return fresh_database(request.getfixturevalue("postgres"))


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    opened = Store(url)
    yield opened
    opened.close()


def new_job(store: Store, source: bytes = b"x = 1\n", course: str = "cs101",
            **fields: object) -> NewJob:  # fmt: skip
    token = store.tokens.find(store.tokens.create(course)[0])
    assert token is not None
    values: dict[str, object] = {
        "course": course,
        "token_id": token[0],
        "student": "ada",
        "filename": "minigpt.py",
        "source": source,
        "settings_json": GradeSettings(sandbox="process").model_dump_json(),
        "grading_key": "k",
    }
    values.update(fields)
    return NewJob(**values)  # type: ignore[arg-type]


def add(store: Store, source: bytes, course: str = "cs101", **fields: object) -> str:
    return store.jobs.create_one(new_job(store, source, course, **fields), ROOMY)[0].id


def claim(store: Store, worker: str = "w", owner: Owner = HERE, lease: float = 30) -> str | None:
    job = store.jobs.claim_next(worker, owner, lease)
    return None if job is None else job.id


def kinds(store: Store, job_id: str) -> list[str]:
    return [event.kind for event in store.reads.events(job_id) or []]


def dead_pid() -> int:
    """The pid of a process that has just ended (not reused this fast)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_one_worker_wins_a_claim(store: Store) -> None:
    job = add(store, b"x = 1\n")
    winners = []

    def take(name: str) -> None:
        if claim(store, name):
            winners.append(name)

    threads = [threading.Thread(target=take, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    record = store.reads.job(job)
    assert record is not None and record.attempts == 1 and record.lease_owner == winners[0]


def test_a_result_is_recorded_exactly_once(store: Store) -> None:
    job = add(store, b"x = 1\n")
    assert claim(store, "a") == job
    assert store.jobs.finish(job, "a", '{"first": true}', "passed", seconds=1.0)
    assert not store.jobs.finish(job, "b", '{"second": true}', "failed", seconds=1.0)
    done = store.reads.job(job)
    assert done is not None and done.status == "done" and done.feedback_json == '{"first": true}'
    assert done.outcome == "passed" and done.gradable is True
    assert claim(store, "c") is None  # a redelivered message grades nothing
    assert kinds(store, job).count("done") == 1 and "duplicate-result-dropped" in kinds(store, job)


def test_an_expired_lease_is_requeued_and_can_be_claimed_again(store: Store) -> None:
    job = add(store, b"x = 1\n")
    assert claim(store, "dead", lease=0.2) == job
    assert claim(store, "other") is None  # lease still live, nothing else queued
    assert store.jobs.requeue_expired() == []
    time.sleep(0.3)
    assert store.jobs.requeue_expired() == [job]
    assert not store.jobs.renew(job, "dead", 30)  # the vanished worker lost it
    again = store.jobs.claim_next("other", HERE, 30)
    assert again is not None and again.attempts == 2 and again.source == b"x = 1\n"


def test_release_gives_the_job_back_to_the_queue(store: Store) -> None:
    job = add(store, b"x = 1\n")
    assert claim(store, "a") == job
    assert not store.jobs.release(job, "not-the-owner")
    assert store.jobs.release(job, "a")
    assert store.jobs.queued_ids() == [job]
    assert store.jobs.never_dispatched() and store.jobs.never_dispatched()[0][0] == job


def test_idempotency_key_and_content_dedupe(store: Store) -> None:
    first, created = store.jobs.create_one(new_job(store, idempotency_key="k1"), ROOMY)
    assert created
    same, created = store.jobs.create_one(new_job(store, idempotency_key="k1"), ROOMY)
    assert not created and same.id == first.id
    with pytest.raises(IdempotencyConflict):
        store.jobs.create_one(new_job(store, b"y = 2\n", idempotency_key="k1"), ROOMY)
    by_bytes = new_job(store)
    a, created = store.jobs.create_one(by_bytes, ROOMY)
    b, again = store.jobs.create_one(by_bytes, ROOMY)
    assert created and not again and a.id == b.id
    token = by_bytes.token_id
    other_student, created = store.jobs.create_one(
        new_job(store, token_id=token, student="bob"), ROOMY
    )
    assert created and other_student.id != a.id


def test_a_not_gradable_result_is_not_reused(store: Store) -> None:
    new = new_job(store)
    job, _ = store.jobs.create_one(new, ROOMY)
    assert claim(store) == job.id
    store.jobs.finish(job.id, "w", "{}", "not-gradable", seconds=0.1)
    assert store.reads.job(job.id).gradable is False  # type: ignore[union-attr]
    retry, created = store.jobs.create_one(new, ROOMY)
    assert created and retry.id != job.id


def test_queue_full_says_when_to_come_back(store: Store) -> None:
    store.jobs.create_one(new_job(store, b"a = 1\n"), QueueLimits(total=1))
    with pytest.raises(QueueFull) as refused:
        store.jobs.create_one(new_job(store, b"b = 1\n"), QueueLimits(total=1))
    assert refused.value.retry_after >= 1


def test_one_course_cannot_fill_another_courses_queue(store: Store) -> None:
    """--max-queue-per-course: course A's burst gets 429, course B's first job goes in."""
    limits = QueueLimits(total=10, per_course=2)
    for i in range(2):
        store.jobs.create_one(new_job(store, f"a{i} = 1\n".encode(), "A"), limits)
    with pytest.raises(QueueFull) as full:
        store.jobs.create_one(new_job(store, b"a2 = 1\n", "A"), limits)
    assert "course" in full.value.message
    _, created = store.jobs.create_one(new_job(store, b"b = 1\n", "B"), limits)
    assert created
    # Within one group commit too (the counts are kept as jobs go in).
    batch = store.jobs.create([new_job(store, f"c{i}\n".encode(), "C") for i in range(3)], limits)
    assert [isinstance(result, QueueFull) for result in batch] == [False, False, True]


def test_a_missing_image_is_not_gradable_at_once(store: Store) -> None:
    """Retrying cannot build an image: recorded gradable false after one attempt."""
    settings = GradeSettings(
        sandbox="docker", image="minigpt-grader:does-not-exist", limits=Limits()
    )
    job = add(store, b"x = 1\n", settings_json=settings.model_dump_json())
    config = WorkerConfig(lease_seconds=30, retries=2, backoff=0.05, nice=0)
    assert run_next(store, "w", config) == "done"
    done = store.reads.job(job)
    assert done is not None and done.gradable is False and done.infra_errors == 1
    assert done.outcome == "not-gradable"
    assert '"score":null' in (done.feedback_json or "")
    assert "after 1 attempt:" in (done.feedback_json or "")
    assert run_next(store, "w", config) == "idle"


def test_a_batch_commits_together_and_refuses_each_job_alone(store: Store, url: str) -> None:
    """Group commit: one transaction, but each submission gets its own outcome."""
    store.jobs.create_one(new_job(store, b"k = 0\n", idempotency_key="used"), ROOMY)
    a = new_job(store, b"a = 1\n")
    revoked = new_job(store, b"r = 1\n")
    store.tokens.revoke("cs101", [revoked.token_id])
    results = store.jobs.create(
        [
            a,
            new_job(store, b"a = 1\n", token_id=a.token_id),  # a duplicate of the first
            new_job(store, b"other = 1\n", idempotency_key="used"),  # key of another file
            revoked,  # its token was revoked after the request found its course
            new_job(store, b"b = 1\n"),
            new_job(store, b"c = 1\n"),  # the queue (3) is full by now
        ],
        QueueLimits(total=3),
    )
    first, duplicate, conflict, unauthorized, second, refused = results
    assert not isinstance(first, Exception) and first[1]
    assert not isinstance(duplicate, Exception) and duplicate == (first[0], False)
    assert isinstance(conflict, IdempotencyConflict)
    assert isinstance(unauthorized, Unauthorized) and unauthorized.status == 401
    assert not isinstance(second, Exception) and second[1]
    assert isinstance(refused, QueueFull) and refused.retry_after >= 1
    # Committed: another connection (as another process would) sees both new jobs.
    other = Store(url)
    for job in (first[0], second[0]):
        seen = other.reads.job(job.id)
        assert seen is not None and seen.status == "queued" and seen.sha256 == job.sha256
    assert kinds(other, first[0].id) == ["accepted"]
    other.close()


def test_only_waiting_jobs_fill_the_queue(store: Store) -> None:
    one = QueueLimits(total=1)
    first, _ = store.jobs.create_one(new_job(store, b"a = 1\n"), one)
    assert claim(store) == first.id  # running still counts
    with pytest.raises(QueueFull):
        store.jobs.create_one(new_job(store, b"b = 1\n"), one)
    store.jobs.finish(first.id, "w", "{}", "passed", seconds=0.1)  # done does not
    _, created = store.jobs.create_one(new_job(store, b"b = 1\n"), one)
    assert created


def test_courses_take_turns_and_each_course_keeps_its_order(store: Store) -> None:
    """A burst from course A does not push course B's job behind it: the next claim
    serves the course served longest ago, each course's jobs oldest first."""
    a = [add(store, f"a{i}\n".encode(), "A") for i in range(4)]
    b = [add(store, f"b{i}\n".encode(), "B") for i in range(2)]
    order = [claim(store) for _ in range(6)]
    assert order == [a[0], b[0], a[1], b[1], a[2], a[3]]
    assert claim(store) is None


def test_a_dead_owners_job_is_requeued_at_once_and_keeps_its_place(store: Store) -> None:
    """After a crash the restarted process puts the dead one's job back without waiting
    for its lease, and it is claimed before the jobs accepted after it."""
    jobs = [add(store, f"j{i}\n".encode()) for i in range(3)]
    dead = Owner(HERE.host, HERE.boot, dead_pid(), 12345)
    elsewhere = Owner("another-host", HERE.boot, dead.pid, 1)
    other_namespace = Owner(HERE.host, HERE.boot.split(":")[0] + ":999", dead.pid, 1)
    assert claim(store, "w-dead", dead, lease=600) == jobs[0]
    assert claim(store, "w-live", HERE, lease=600) == jobs[1]
    assert claim(store, "w-far", elsewhere, lease=600) == jobs[2]
    late = add(store, b"late\n")
    assert store.jobs.requeue_orphans(HERE) == [jobs[0]]  # not the live, far or unknown ones
    assert kinds(store, jobs[0])[-1] == "owner-gone-requeued"
    assert store.jobs.never_dispatched()[0][0] == jobs[0]  # to be handed over again
    assert claim(store, "w2") == jobs[0]  # before `late`, accepted after it
    assert claim(store, "w2") == late
    with store.db.session() as session:  # a process of this host, in another pid namespace
        session.execute(
            update(Job).where(Job.id == jobs[1]).values(owner_boot=other_namespace.boot)
        )
    assert store.jobs.requeue_orphans(HERE) == []
    rebooted = Owner(HERE.host, "another-boot:1", HERE.pid, HERE.start)
    with store.db.session() as session:
        session.execute(update(Job).where(Job.id == jobs[1]).values(owner_boot=rebooted.boot))
    assert store.jobs.requeue_orphans(HERE) == [jobs[1]]  # a reboot ended every process


def test_a_newer_submission_supersedes_the_queued_one(store: Store) -> None:
    limits = QueueLimits(total=10, supersede=True)
    running = store.jobs.create_one(new_job(store, b"v1\n"), limits)[0].id
    assert claim(store) == running  # running: kept, graded
    queued = store.jobs.create_one(new_job(store, b"v2\n"), limits)[0].id
    other = store.jobs.create_one(new_job(store, b"v2\n", student="bob"), limits)[0].id
    newest = store.jobs.create_one(new_job(store, b"v3\n"), limits)[0].id
    old = store.reads.job(queued)
    assert old is not None and old.status == "superseded" and old.superseded_by == newest
    assert old.outcome == "superseded" and kinds(store, queued)[-1] == "superseded"
    assert store.reads.job(running).status == "running"  # type: ignore[union-attr]
    assert store.reads.job(other).status == "queued"  # type: ignore[union-attr]
    # The superseded bytes sent again are graded (never graded before), not deduplicated.
    again, created = store.jobs.create_one(new_job(store, b"v2\n"), limits)
    assert created and again.id != queued
    # Without the flag nothing is superseded.
    plain = store.jobs.create_one(new_job(store, b"v4\n"), ROOMY)[0].id
    assert store.reads.job(again.id).status == "queued"  # type: ignore[union-attr]
    store.jobs.create_one(new_job(store, b"v5\n"), ROOMY)
    assert store.reads.job(plain).status == "queued"  # type: ignore[union-attr]


def test_tokens_are_revoked_expire_and_rotate(store: Store, url: str) -> None:
    first, secret = store.tokens.create("cs101")
    second, _ = store.tokens.create("cs101", expires_at=time.time() + 0.5)
    assert secret.startswith("whsec_")
    one, two = store.tokens.find(first), store.tokens.find(second)
    assert one is not None and two is not None and one[1] == "cs101"
    listed = store.tokens.of_course("cs101")
    assert [t.id for t in listed] == [one[0], two[0]] and listed[0].prefix == first[:12]
    elsewhere = Store(url)  # e.g. `grade serve token revoke` in another process
    assert elsewhere.tokens.revoke("cs101", [one[0]]) == 1
    elsewhere.close()
    assert store.tokens.find(first) is None  # at once, though it was remembered
    assert store.tokens.known(first) == one  # memory says only which course it names
    time.sleep(0.6)
    assert store.tokens.find(second) is None  # expired
    states = {t.id: t.state(time.time()) for t in store.tokens.of_course("cs101")}
    assert states == {one[0]: "revoked", two[0]: "expired"}
    old, _ = store.tokens.create("cs101")
    new = store.tokens.rotate("cs101", overlap=0.5)
    assert store.tokens.find(old) is not None and store.tokens.find(new) is not None
    time.sleep(0.6)
    assert store.tokens.find(old) is None and store.tokens.find(new) is not None


def test_a_rotated_secret_signs_beside_the_new_one_for_the_overlap(store: Store) -> None:
    _, secret = store.tokens.create("cs101")
    assert store.tokens.secrets("cs101") == [secret]
    newer = store.tokens.rotate_secret("cs101", overlap=0.5)
    assert newer != secret and store.tokens.secrets("cs101") == [newer, secret]
    time.sleep(0.6)
    assert store.tokens.secrets("cs101") == [newer]


def test_lists_count_every_match_and_stats_split_by_course(store: Store) -> None:
    ids = [add(store, f"p{i}\n".encode(), "A", student=f"s{i % 2}") for i in range(5)]
    add(store, b"q\n", "B")
    page, total = store.reads.jobs("A", None, None, limit=2, offset=0)
    assert total == 5 and [job.id for job in page] == ids[::-1][:2]
    page, total = store.reads.jobs("A", "s0", None, limit=2, offset=2)
    assert total == 3 and [job.id for job in page] == [ids[0]]
    taken = [claim(store) for _ in range(3)]  # A, B, A
    store.jobs.finish(taken[0], "w", "{}", "passed", 1.0)  # type: ignore[arg-type]
    store.jobs.finish(taken[1], "w", "{}", "failed", 3.0)  # type: ignore[arg-type]
    stats = store.stats()
    assert stats.jobs[("A", "queued")] == 3 and stats.jobs[("A", "running")] == 1
    assert stats.jobs[("A", "done")] == 1 and stats.jobs[("B", "done")] == 1
    assert stats.outcomes == {("A", "passed"): 1, ("B", "failed"): 1}
    assert stats.queue_wait["A"].count == 2 and stats.queue_wait["B"].count == 1
    assert stats.grading.count == 2 and stats.grading.total == 4.0


def test_a_token_made_elsewhere_works_at_once_then_its_course_is_known(
    store: Store, url: str
) -> None:
    elsewhere = Store(url)  # e.g. `grade serve token create`
    token, _ = elsewhere.tokens.create("cs202")
    elsewhere.close()
    assert store.tokens.find("mgt_unknown") is None and store.tokens.known("mgt_unknown") is None
    assert store.tokens.known(token) is None  # never looked up here yet
    found = store.tokens.find(token)
    assert found is not None and found[1] == "cs202"
    assert store.tokens.known(token) == found
    assert store.tokens.known(token + "x") is None


def test_the_database_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """Sources and signing secrets: the folder 0700, the database, its WAL and lock 0600."""
    from grader.service.config import database_url

    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    old = os.umask(0)
    try:
        made = Store(database_url(None, folder))
        made.tokens.create("cs101")  # writes: the WAL files exist now
    finally:
        os.umask(old)
    assert folder.stat().st_mode & 0o777 == 0o700
    files = sorted(folder.iterdir())
    assert {f.name for f in files} >= {"service.db", "service.db.lock", "service.db-wal"}
    assert {f.name: f.stat().st_mode & 0o777 for f in files} == dict.fromkeys(
        (f.name for f in files), 0o600
    )
    made.close()


def test_a_write_locks_out_other_processes_and_reads_never_wait(tmp_path: Path) -> None:
    """SQLite: writers of every process queue on a file lock beside the database; readers do not."""
    import fcntl

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store, other = Store(url), Store(url)  # each its own connections and lock file handle
    job = add(store, b"x = 1\n")
    lock_file = tmp_path / "jobs.db.lock"
    try:
        with store.db.session() as session, lock_file.open("rb") as probe:
            session.execute(select(1))  # the write transaction has begun
            with pytest.raises(BlockingIOError):
                fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            # A read from another store answers meanwhile.
            seen = other.reads.job(job)
            assert seen is not None and seen.status == "queued"
            assert other.jobs.never_dispatched()[0][0] == job
        with lock_file.open("rb") as probe:  # released with the transaction
            fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        other.close()
        store.close()


def test_the_feeder_hands_each_committed_job_over_once(store: Store) -> None:
    """What API processes commit reaches the supervisor's dispatcher once, even when
    the dispatcher notes it sent only later (Celery), and a restart's resume is not fed."""
    handed: list[str] = []

    class Recorder(Dispatcher):
        mode = "celery"

        def submit(self, job_id: str) -> None:
            handed.append(job_id)

        def hand_over(self, store: Store, job_ids: Sequence[str]) -> None:
            self.submit_many(job_ids)  # like Celery: noted as dispatched later, or never

        def callback(self, job_id: str) -> None:
            raise AssertionError("no callback expected")

    feeder = Feeder(store, Recorder(), quiet=0.0)  # no burst hold here (tested below)
    first = [add(store, f"# {i}\n".encode()) for i in range(3)]
    assert feeder.feed() == first
    assert feeder.feed() == []  # not noted as dispatched yet: still not handed twice
    store.jobs.mark_dispatched([first[0]])
    late = add(store, b"# late\n")
    assert feeder.feed() == [late]
    assert handed == [*first, late]
    # The embedded dispatcher notes what a restart resumed and what it is handed.
    embedded = EmbeddedDispatcher(store, WorkerConfig(), workers=1)
    embedded.stop()  # grades nothing: only its bookkeeping is under test
    embedded.resume(store)
    assert store.jobs.never_dispatched() == []
    after = add(store, b"# after\n")
    assert Feeder(store, embedded).feed() == [after]
    assert store.jobs.never_dispatched() == []


def test_the_feeder_holds_a_burst_while_it_arrives(store: Store) -> None:
    """Jobs arriving in a burst are handed over once none came for `quiet` s, or once the
    oldest has waited `hold` s; a lone job, or a clock set back, is never held."""
    handed: list[str] = []

    class Recorder(Dispatcher):
        mode = "embedded"

        def submit(self, job_id: str) -> None:
            handed.append(job_id)

        def callback(self, job_id: str) -> None:
            raise AssertionError("no callback expected")

    def accepted(job_id: str) -> float:
        record = store.reads.job(job_id)
        assert record is not None
        return record.created_at

    now = [0.0]
    feeder = Feeder(store, Recorder(), quiet=0.3, hold=3.0, clock=lambda: now[0])
    lone = add(store, b"# lone\n")
    now[0] = accepted(lone)
    assert feeder.feed() == [lone]  # alone: at once, even the moment it came

    burst = [add(store, f"# {i}\n".encode()) for i in range(3)]
    newest = accepted(burst[-1])
    now[0] = newest + 0.1
    assert feeder.feed() == []  # still arriving
    assert [job for job, _ in store.jobs.never_dispatched()] == burst  # held, not lost
    now[0] = newest + 0.31
    assert feeder.feed() == burst  # quiet: all of them, oldest first

    more = [add(store, f"# more {i}\n".encode()) for i in range(2)]
    patient = Feeder(store, Recorder(), quiet=10.0, hold=3.0, clock=lambda: now[0])
    now[0] = accepted(more[-1]) + 2.9
    assert patient.feed() == []
    now[0] = accepted(more[0]) + 3.01  # still arriving, but the oldest waited long enough
    assert patient.feed() == more

    late = [add(store, f"# late {i}\n".encode()) for i in range(2)]
    now[0] = accepted(late[0]) - 60.0  # the clock was set back a minute
    assert feeder.feed() == late
    assert handed == [lone, *burst, *more, *late]
