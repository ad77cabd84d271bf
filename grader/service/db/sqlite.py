"""SQLite as a database several processes of one machine share: WAL, one writer at a
time queued on a file lock, and files only their owner can read."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

if sys.platform != "win32":
    import fcntl

PRIVATE = 0o600


def secure_files(database: str) -> None:
    """The database (made now if new), its WAL files and its lock: 0600 whatever the umask.

    They hold every student's source and the courses' signing secrets. SQLite gives
    the WAL files the database's own mode, so making the database private first is
    what keeps them private too.
    """
    path = Path(database)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE))
    for name in ("", "-wal", "-shm", ".lock"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{name}").chmod(PRIVATE)


class WriteLock:
    """One write transaction at a time on a SQLite file: first among this process's
    threads (a lock), then among the processes sharing the file (an ``flock`` on a
    file beside it).

    SQLite serialises writers itself, but a writer that finds the file locked
    sleeps in its busy handler (1, 2, 5, 10... up to 100 ms at a time) and keeps
    losing to a process that commits often: two API processes committing a burst
    made one of them wait 100 ms. A blocked ``flock`` wakes the moment the lock is
    released. Every process of the service takes it; one that does not (another
    tool) is still kept out by SQLite's own lock, only less promptly.
    """

    def __init__(self, database: str | None) -> None:
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        if database and database != ":memory:" and sys.platform != "win32":
            self._fd = os.open(f"{database}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE)
            os.fchmod(self._fd, PRIVATE)

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._thread_lock.release()
                raise

    def __exit__(self, *_exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def configure(engine: Engine, *, immediate: bool = True) -> None:
    """WAL, a long busy timeout, and (``immediate``) every transaction ``BEGIN IMMEDIATE``."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN below, not the driver's
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # Take the write lock up front: a deferred transaction that reads and
        # then writes fails at once under WAL when another process wrote meanwhile.
        # Reads only (the reader engine) never wait for it: WAL lets them run
        # beside a writer, on the last committed state.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
