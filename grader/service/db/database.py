"""The connection to the service's database: engines, sessions, the schema.

SQLite (the default) runs every transaction as ``BEGIN IMMEDIATE`` in WAL mode,
queued on a file lock (:mod:`.sqlite`), so API processes and workers on one
machine share the file; any SQLAlchemy URL works for several machines
(PostgreSQL: ``postgresql+psycopg://...``, tested by the service's tests).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from sqlalchemy import create_engine, insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from ..errors import SchemaOutdated
from . import page_tables, sqlite  # noqa: F401 (page_tables: made with the jobs')
from .tables import SCHEMA_VERSION, Base, Event, Meta

# Several processes of the service may start together on one PostgreSQL database:
# the first to take this advisory lock creates the tables, the others then find them.
SCHEMA_LOCK = 7_310_023


class Database:
    """Engines and transactions; the tables are made on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock: AbstractContextManager[object] = nullcontext()
        self._write_lock: sqlite.WriteLock | None = None
        if url.startswith("sqlite"):
            self.engine = create_engine(url, pool_size=4, max_overflow=4)
            path = self.engine.url.database
            if path and path != ":memory:":
                sqlite.secure_files(path)
            sqlite.configure(self.engine)
            self._write_lock = sqlite.WriteLock(path)
            self._lock = self._write_lock
            # Reads go through a second engine whose transactions take no lock.
            self.reader = create_engine(url, pool_size=4, max_overflow=8)
            sqlite.configure(self.reader, immediate=False)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
            self.reader = self.engine
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(self.reader, expire_on_commit=False)
        self._create_schema()

    def _create_schema(self) -> None:
        with self._lock, self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
            tables = set(inspect(connection).get_table_names())
            if "jobs" in tables and Meta.__tablename__ not in tables:
                raise _outdated("an older version")
            Base.metadata.create_all(connection)
            self._check_version(connection)

    @staticmethod
    def _check_version(connection: Connection) -> None:
        found = connection.execute(select(Meta.value).where(Meta.key == "schema")).scalar()
        if found is None:
            connection.execute(insert(Meta), {"key": "schema", "value": SCHEMA_VERSION})
        elif found != SCHEMA_VERSION:
            raise _outdated(f"schema version {found}")

    def close(self) -> None:
        self.engine.dispose()
        self.reader.dispose()
        if self._write_lock is not None:
            self._write_lock.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction (one at a time on SQLite)."""
        with self._lock, self._session.begin() as session:
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only transaction: never waits for a writer (SQLite: WAL)."""
        with self._read.begin() as session:
            yield session

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def ping(self) -> None:
        with self.read_session() as session:
            session.execute(select(1))


def add_event(session: Session, job_id: str, kind: str, worker: str | None = None,
              detail: str | None = None) -> None:  # fmt: skip
    """One line of a job's audit trail, in the caller's transaction."""
    session.add(Event(job_id=job_id, at=time.time(), kind=kind, worker=worker, detail=detail))


def _outdated(what: str) -> SchemaOutdated:
    return SchemaOutdated(
        f"The service database was made by {what} of the service (this one needs schema "
        f"version {SCHEMA_VERSION}).",
        fix="Start with a new --data-dir (or database) and let the old service finish "
        "its jobs first.",
    )
