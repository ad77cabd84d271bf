"""The API processes of ``grade serve --api-processes N``: they accept and answer, never grade.

uvicorn starts them fresh (spawn) and builds each one's app with
:func:`api_process_app`, which reads what to serve from :data:`API_PROCESS_ENV`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

from fastapi import FastAPI

from ...settings import GradeSettings
from ..config import ServiceConfig
from ..db import Store
from ..dispatch import Handoff
from ..runtime import ServiceRuntime
from .app import create_app

log = logging.getLogger("grader.service")

API_PROCESS_ENV = "GRADER_SERVE_API_PROCESS"
PARENT_CHECK_SECONDS = 1.0


def api_process_spec(database: str, settings: GradeSettings, config: ServiceConfig, mode: str,
                     broker: str | None, queue: str, data_dir: Path | None) -> str:  # fmt: skip
    """What an API process needs to know, as the value of :data:`API_PROCESS_ENV`."""
    return json.dumps(
        {"database": database, "settings": settings.model_dump_json(),
         "config": config.model_dump_json(), "mode": mode, "broker": broker, "queue": queue,
         "supervisor": os.getpid(), "data_dir": str(data_dir) if data_dir else None}
    )  # fmt: skip


def stop_when_orphaned(parent: int, interval: float = PARENT_CHECK_SECONDS) -> threading.Thread:
    """SIGTERM this process once ``parent`` is gone (we were re-parented).

    uvicorn stops its API processes when the supervisor stops, but a supervisor
    killed outright (SIGKILL, the OOM killer) would leave them answering with no
    one grading or feeding; SIGTERM lets each finish the requests it has.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        log.warning("grade serve (pid %d) is gone: this API process stops", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def api_process_app() -> FastAPI:
    """The app of one API process (uvicorn's factory)."""
    spec = json.loads(os.environ[API_PROCESS_ENV])
    stop_when_orphaned(int(spec["supervisor"]))
    runtime = ServiceRuntime(
        Store(spec["database"]),
        Handoff(spec["mode"], spec["broker"], spec["queue"]),
        GradeSettings.model_validate_json(spec["settings"]),
        ServiceConfig.model_validate_json(spec["config"]),
        role="api",
        data_dir=Path(spec["data_dir"]) if spec.get("data_dir") else None,
    )
    return create_app(runtime)
