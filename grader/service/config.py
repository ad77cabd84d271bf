"""Where the service keeps its data, and the knobs every process of it shares."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..settings import GradeSettings

DATA_DIR_ENV = "GRADER_DATA_DIR"
DATABASE_ENV = "GRADER_DATABASE_URL"
BROKER_ENV = "GRADER_BROKER_URL"
DEFAULT_QUEUE = "grading"
# Redis gives an unacknowledged message to another worker after this long. The
# lease requeues a job far sooner; this only has to outlast the longest grading.
VISIBILITY_TIMEOUT = 3600


def default_data_dir() -> Path:
    """GRADER_DATA_DIR, else the per-user data folder (~/.local/share/minigpt-grader)."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured)
    from platformdirs import user_data_path

    return user_data_path("minigpt-grader", appauthor=False)


def database_url(database: str | None, data_dir: Path | None) -> str:
    """An explicit URL wins; otherwise SQLite in the data folder (created if needed)."""
    if database:
        return database
    folder = data_dir or default_data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'service.db').resolve()}"


def grading_key(settings: GradeSettings) -> str:
    """What besides the bytes decides a verdict: the suite and the settings."""
    text = paths.suite_hash() + settings.model_dump_json()
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker (embedded thread or Celery process) runs a job.

    ``lease_seconds`` is how long a claim lasts without renewal (renewed every
    third of it); ``retries`` the extra attempts after an infrastructure error,
    waiting ``backoff`` s, then twice that, and so on (at most 60 s).
    """

    lease_seconds: float = 60.0
    retries: int = 2
    backoff: float = 2.0
    callback_retries: int = 8
    callback_backoff: float = 2.0
    callback_timeout: float = 10.0
