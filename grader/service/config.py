"""The service's knobs, each default and range written once, and where its data lives.

``grade serve`` and ``grade worker`` derive their flags from these models
(:func:`grader.service.cli_support.knob`), so a default typed here is the one the
command line shows and the one a runtime built without flags uses.
"""

from __future__ import annotations

import hashlib
import os
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from .. import paths
from ..settings import GradeSettings

DATA_DIR_ENV = "GRADER_DATA_DIR"
DATABASE_ENV = "GRADER_DATABASE_URL"
BROKER_ENV = "GRADER_BROKER_URL"
CALLBACK_ALLOW_ENV = "GRADER_CALLBACK_ALLOW"
DEFAULT_QUEUE = "grading"
DATABASE_FILE = "service.db"
# Redis gives an unacknowledged message to another worker after this long. The
# lease requeues a job far sooner; this only has to outlast the longest grading.
VISIBILITY_TIMEOUT = 3600
TOKEN_PREFIX = "mgt_"

Network = IPv4Network | IPv6Network


class WorkerConfig(BaseModel):
    """How a worker (embedded thread or ``grade worker``) runs jobs and delivers callbacks."""

    model_config = ConfigDict(frozen=True)

    lease_seconds: float = Field(
        60.0,
        ge=1,
        description="Seconds a worker's claim on a job lasts unless renewed (every third of "
        "it); a job whose worker vanished is requeued after it (at once when the worker was on "
        "this machine and its process is gone).",
    )
    retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Extra attempts after an infrastructure error (exponential backoff), then "
        "the job is recorded not gradable.",
    )
    backoff: float = Field(2.0, gt=0, description="Seconds before the first grading retry.")
    callback_retries: int = Field(
        8, ge=0, le=30, description="Extra attempts to deliver a callback without a 2xx answer."
    )
    callback_backoff: float = Field(
        2.0,
        ge=0.01,
        description="Seconds before the first callback retry; doubled each time (at most 300).",
    )
    callback_timeout: float = Field(10.0, gt=0, description="Seconds one delivery may take.")
    callback_allow: tuple[Network, ...] = Field(
        (),
        description="Address range (CIDR) callbacks may reach although it is loopback, private, "
        "link-local or reserved; repeatable. Other such addresses are refused.",
    )
    nice: int = Field(
        10,
        ge=0,
        le=19,
        description="CPU niceness of the gradings (the threads that run the sandbox, and "
        "process-sandbox judges), so the API answers a burst first; the jobs' database work "
        "keeps normal priority. 0: normal.",
    )


class ServiceConfig(BaseModel):
    """What ``grade serve`` adds to a worker's knobs: queues, processes, sweeping."""

    model_config = ConfigDict(frozen=True)

    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="Embedded grading threads (without --broker).",
    )
    max_queue: int = Field(
        2000, ge=1, description="Jobs waiting before new submissions get 429 (Retry-After)."
    )
    max_queue_per_course: int | None = Field(
        None,
        ge=1,
        description="Jobs one course may have waiting before its new submissions get 429 "
        "(default: only --max-queue).",
    )
    supersede: bool = Field(
        False,
        description="A student's new submission replaces their older one still queued (that "
        "one ends `superseded`, never graded).",
    )
    sweep_interval: float = Field(
        2.0,
        ge=0.1,
        description="Seconds between passes that requeue expired leases and unsent jobs.",
    )
    api_processes: int = Field(
        1,
        ge=0,
        le=64,
        description="HTTP API processes started beside this one, which grades (embedded), "
        "hands jobs to the broker and sweeps. 0: everything in this one process.",
    )
    worker: WorkerConfig = Field(default_factory=WorkerConfig)


def default_data_dir() -> Path:
    """GRADER_DATA_DIR, else the per-user data folder (~/.local/share/minigpt-grader)."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured)
    from platformdirs import user_data_path

    return user_data_path("minigpt-grader", appauthor=False)


def private_folder(data_dir: Path | None) -> Path:
    """The data folder (``data_dir``, else the default), made if new and 0700 whatever
    umask made it, or whoever made it first: it holds every student's source, the
    courses' signing secrets and the LTI tool's private key."""
    folder = data_dir or default_data_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    return folder


def database_url(database: str | None, data_dir: Path | None) -> str:
    """An explicit URL wins; otherwise SQLite in the private data folder (the database
    and its lock are 0600: :func:`grader.service.db.sqlite.secure_files`)."""
    if database:
        return database
    return f"sqlite:///{(private_folder(data_dir) / DATABASE_FILE).resolve()}"


def grading_key(settings: GradeSettings) -> str:
    """What besides the bytes decides a verdict: the suite and the settings."""
    text = paths.suite_hash() + settings.model_dump_json()
    return hashlib.sha256(text.encode()).hexdigest()
