"""The job table's state transitions: claim, lease, finish once, release, dedupe, limits.

These run on a real SQLite file (no server); the same transitions guard every
worker of every mode, so a bug here would grade a job twice or lose one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from grader.service.config import WorkerConfig
from grader.service.dispatch import Dispatcher, EmbeddedDispatcher, Feeder
from grader.service.grading import run_job
from grader.service.store import IdempotencyConflict, NewJob, QueueFull, Store
from grader.settings import GradeSettings, Limits


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'jobs.db'}")


def new_job(store: Store, source: bytes = b"x = 1\n", **fields: object) -> NewJob:
    token_id = store.find_token(store.create_token("cs101")[0])
    assert token_id is not None
    values: dict[str, object] = {
        "course": "cs101",
        "token_id": token_id[0],
        "student": "ada",
        "filename": "minigpt.py",
        "source": source,
        "settings_json": GradeSettings(sandbox="process").model_dump_json(),
        "grading_key": "k",
    }
    values.update(fields)
    return NewJob(**values)  # type: ignore[arg-type]


def test_only_one_worker_wins_a_claim(store: Store) -> None:
    job, created = store.create_job(new_job(store), max_queue=10)
    assert created
    winners = []

    def claim(name: str) -> None:
        if store.claim(job.id, name, lease_seconds=30):
            winners.append(name)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert store.get_job(job.id).attempts == 1  # type: ignore[union-attr]


def test_a_result_is_recorded_exactly_once(store: Store) -> None:
    job, _ = store.create_job(new_job(store), max_queue=10)
    assert store.claim(job.id, "a", 30)
    assert store.finish(job.id, "a", '{"first": true}', gradable=True, seconds=1.0)
    assert not store.finish(job.id, "b", '{"second": true}', gradable=True, seconds=1.0)
    done = store.get_job(job.id)
    assert done is not None and done.status == "done" and done.feedback_json == '{"first": true}'
    assert store.claim(job.id, "c", 30) is None  # a redelivered message grades nothing
    kinds = [kind for kind, _ in store.events(job.id)]
    assert kinds.count("done") == 1 and "duplicate-result-dropped" in kinds


def test_an_expired_lease_is_requeued_and_can_be_claimed_again(store: Store) -> None:
    job, _ = store.create_job(new_job(store), max_queue=10)
    assert store.claim(job.id, "dead", lease_seconds=0.2)
    assert store.claim(job.id, "other", lease_seconds=30) is None  # lease still live
    assert store.requeue_expired() == []
    time.sleep(0.3)
    assert store.requeue_expired() == [job.id]
    assert not store.renew(job.id, "dead", 30)  # the vanished worker lost it
    again = store.claim(job.id, "other", lease_seconds=30)
    assert again is not None and again.attempts == 2 and again.source == b"x = 1\n"


def test_release_gives_the_job_back_to_the_queue(store: Store) -> None:
    job, _ = store.create_job(new_job(store), max_queue=10)
    assert store.claim(job.id, "a", 30)
    assert not store.release(job.id, "not-the-owner")
    assert store.release(job.id, "a")
    assert store.get_job(job.id).status == "queued"  # type: ignore[union-attr]
    assert store.queued_ids() == [job.id]


def test_idempotency_key_and_content_dedupe(store: Store) -> None:
    first, created = store.create_job(new_job(store, idempotency_key="k1"), max_queue=10)
    assert created
    same, created = store.create_job(new_job(store, idempotency_key="k1"), max_queue=10)
    assert not created and same.id == first.id
    with pytest.raises(IdempotencyConflict):
        store.create_job(new_job(store, b"y = 2\n", idempotency_key="k1"), max_queue=10)
    token = store.find_token(store.create_token("cs101")[0])
    assert token is not None
    by_bytes = new_job(store, token_id=token[0])
    a, created = store.create_job(by_bytes, max_queue=10)
    b, again = store.create_job(by_bytes, max_queue=10)
    assert created and not again and a.id == b.id
    other_student, created = store.create_job(
        new_job(store, token_id=token[0], student="bob"), max_queue=10
    )
    assert created and other_student.id != a.id


def test_a_not_gradable_result_is_not_reused(store: Store) -> None:
    new = new_job(store)
    job, _ = store.create_job(new, max_queue=10)
    assert store.claim(job.id, "a", 30)
    store.finish(job.id, "a", "{}", gradable=False, seconds=0.1)
    retry, created = store.create_job(new, max_queue=10)
    assert created and retry.id != job.id


def test_queue_full_says_when_to_come_back(store: Store) -> None:
    store.create_job(new_job(store, b"a = 1\n"), max_queue=1)
    with pytest.raises(QueueFull) as refused:
        store.create_job(new_job(store, b"b = 1\n"), max_queue=1)
    assert refused.value.retry_after >= 1


def test_a_missing_image_is_not_gradable_at_once(store: Store) -> None:
    """Retrying cannot build an image: recorded gradable false after one attempt."""
    settings = GradeSettings(
        sandbox="docker", image="minigpt-grader:does-not-exist", limits=Limits()
    )
    job, _ = store.create_job(
        new_job(store, b"x = 1\n", settings_json=settings.model_dump_json()), max_queue=10
    )
    config = WorkerConfig(lease_seconds=30, retries=2, backoff=0.05)
    assert run_job(store, job.id, "w", config) == "done"
    done = store.get_job(job.id)
    assert done is not None and done.gradable is False and done.infra_errors == 1
    assert '"score":null' in (done.feedback_json or "")
    assert "after 1 attempt:" in (done.feedback_json or "")


def test_a_batch_commits_together_and_refuses_each_job_alone(store: Store, tmp_path: Path) -> None:
    """Group commit: one transaction, but each submission gets its own outcome."""
    store.create_job(new_job(store, b"k = 0\n", idempotency_key="used"), max_queue=10)
    a = new_job(store, b"a = 1\n")
    results = store.create_jobs(
        [
            a,
            new_job(store, b"a = 1\n", token_id=a.token_id),  # a duplicate of the first
            new_job(store, b"other = 1\n", idempotency_key="used"),  # key of another file
            new_job(store, b"b = 1\n"),
            new_job(store, b"c = 1\n"),  # the queue (3) is full by now
        ],
        max_queue=3,
    )
    first, duplicate, conflict, second, refused = results
    assert not isinstance(first, Exception) and first[1]
    assert not isinstance(duplicate, Exception) and duplicate == (first[0], False)
    assert isinstance(conflict, IdempotencyConflict)
    assert not isinstance(second, Exception) and second[1]
    assert isinstance(refused, QueueFull) and refused.retry_after >= 1
    # Committed: another connection (as another process would) sees both new jobs.
    other = Store(f"sqlite:///{tmp_path / 'jobs.db'}")
    for job in (first[0], second[0]):
        seen = other.get_job(job.id)
        assert seen is not None and seen.status == "queued" and seen.sha256 == job.sha256
    assert [kind for kind, _ in other.events(first[0].id)] == ["accepted"]
    other.close()


def test_only_waiting_jobs_fill_the_queue(store: Store) -> None:
    first, _ = store.create_job(new_job(store, b"a = 1\n"), max_queue=1)
    assert store.claim(first.id, "w", 30)  # running still counts
    with pytest.raises(QueueFull):
        store.create_job(new_job(store, b"b = 1\n"), max_queue=1)
    store.finish(first.id, "w", "{}", gradable=True, seconds=0.1)  # done does not
    _, created = store.create_job(new_job(store, b"b = 1\n"), max_queue=1)
    assert created


def test_a_token_made_elsewhere_works_at_once_then_comes_from_memory(
    store: Store, tmp_path: Path
) -> None:
    elsewhere = Store(f"sqlite:///{tmp_path / 'jobs.db'}")  # e.g. `grade serve token create`
    token, _ = elsewhere.create_token("cs202")
    elsewhere.close()
    assert store.find_token("mgt_unknown") is None and store.cached_token("mgt_unknown") is None
    assert store.cached_token(token) is None  # never looked up here yet
    found = store.find_token(token)
    assert found is not None and found[1] == "cs202"
    assert store.cached_token(token) == found
    assert store.cached_token(token + "x") is None


def test_a_write_locks_out_other_processes_and_reads_never_wait(
    store: Store, tmp_path: Path
) -> None:
    """Writers of every process queue on a file lock beside the database; readers do not."""
    import fcntl

    other = Store(f"sqlite:///{tmp_path / 'jobs.db'}")  # its own connections and lock file handle
    job, _ = store.create_job(new_job(store), max_queue=10)
    lock_file = tmp_path / "jobs.db.lock"
    try:
        with store.session() as session, lock_file.open("rb") as probe:
            session.execute(select(1))  # the write transaction has begun
            with pytest.raises(BlockingIOError):
                fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            # A read from another store answers meanwhile (with the old write-only path it
            # would wait on SQLite's lock until its busy timeout and fail).
            seen = other.get_job(job.id)
            assert seen is not None and seen.status == "queued"
            assert other.never_dispatched() == [job.id]
        with lock_file.open("rb") as probe:  # released with the transaction
            fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        other.close()


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
    first = [
        store.create_job(new_job(store, f"# {i}\n".encode()), max_queue=10)[0] for i in range(3)
    ]
    assert feeder.feed() == [job.id for job in first]
    assert feeder.feed() == []  # not noted as dispatched yet: still not handed twice
    store.mark_dispatched([first[0].id])
    late = store.create_job(new_job(store, b"# late\n"), max_queue=10)[0]
    assert feeder.feed() == [late.id]
    assert handed == [*(job.id for job in first), late.id]
    # The embedded dispatcher notes what a restart resumed and what it is handed.
    embedded = EmbeddedDispatcher(store, WorkerConfig(), workers=1)
    embedded.stop()  # grades nothing: only its bookkeeping is under test
    embedded.resume(store)
    assert store.never_dispatched() == []
    after = store.create_job(new_job(store, b"# after\n"), max_queue=10)[0]
    assert Feeder(store, embedded).feed() == [after.id]
    assert store.never_dispatched() == []


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

    now = [0.0]
    feeder = Feeder(store, Recorder(), quiet=0.3, hold=3.0, clock=lambda: now[0])
    lone = store.create_job(new_job(store, b"# lone\n"), max_queue=10)[0]
    now[0] = lone.created_at
    assert feeder.feed() == [lone.id]  # alone: at once, even the moment it came

    burst = [
        store.create_job(new_job(store, f"# {i}\n".encode()), max_queue=10)[0] for i in range(3)
    ]
    newest = burst[-1].created_at
    now[0] = newest + 0.1
    assert feeder.feed() == []  # still arriving
    assert store.never_dispatched() == [job.id for job in burst]  # held, not lost
    now[0] = newest + 0.31
    assert feeder.feed() == [job.id for job in burst]  # quiet: all of them, oldest first

    more = [
        store.create_job(new_job(store, f"# more {i}\n".encode()), max_queue=10)[0]
        for i in range(2)
    ]
    patient = Feeder(store, Recorder(), quiet=10.0, hold=3.0, clock=lambda: now[0])
    now[0] = more[-1].created_at + 2.9
    assert patient.feed() == []
    now[0] = more[0].created_at + 3.01  # still arriving, but the oldest waited long enough
    assert patient.feed() == [job.id for job in more]

    late = [
        store.create_job(new_job(store, f"# late {i}\n".encode()), max_queue=10)[0]
        for i in range(2)
    ]
    now[0] = late[0].created_at - 60.0  # the clock was set back a minute
    assert feeder.feed() == [job.id for job in late]
    assert handed == [lone.id, *(j.id for j in burst), *(j.id for j in more), *(j.id for j in late)]
