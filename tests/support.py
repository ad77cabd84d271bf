"""What the grader's own tests share: the repository's files and quick settings.

One place for each path (taken from :mod:`grader.paths`, which the grader
itself uses), imported as a module by the tests; ``conftest.py`` only holds
fixtures and hooks.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

from grader import paths
from grader.models import CheckResult, Issue
from grader.rubric import CHECKS
from grader.settings import GradeSettings, Limits

REPO = paths.PROJECT_DIR
REFERENCE = paths.REFERENCE_PATH
SKELETON = paths.TEMPLATE_DIR / "minigpt.py"
SOLUTIONS = paths.BANK_DIR
REQUIRE_DOCKER = os.environ.get("GRADER_REQUIRE_DOCKER") == "1"
# How the browser tests start Debian's chromium (each adds its --window-size).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def process_settings(**limits: Any) -> GradeSettings:
    """Process-backend settings with tight limits, so failure cases stay quick."""
    return GradeSettings(sandbox="process", limits=Limits(**limits))


def check_results(failing: dict[str, list[Issue]]) -> list[CheckResult]:
    """Every rubric check, passed with full points but those in ``failing`` (0, its issues)."""
    return [
        CheckResult(
            id=c.id,
            title=c.title,
            passed=c.id not in failing,
            score=0.0 if c.id in failing else c.points,
            max_score=c.points,
            issues=failing.get(c.id, []),
        )
        for c in CHECKS
    ]


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing(message: str) -> NoReturn:
    """A program a test needs is not installed: a failure where the set-up scripts ran
    (GRADER_REQUIRE_DOCKER=1: CI and scripts/test.sh, which install it), elsewhere a skip
    whose message names the script that installs it."""
    if REQUIRE_DOCKER:
        pytest.fail(message)
    pytest.skip(message)


def chromium_and_driver() -> tuple[str, str]:
    """Debian's chromium and its chromedriver (scripts/ensure-chromium.sh installs both)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        missing("chromium or chromedriver missing: run scripts/ensure-chromium.sh")
    return chromium, driver


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL programs; like :func:`redis_server` when missing."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found:
        missing("PostgreSQL is not installed (bash scripts/ensure-postgres.sh installs it)")
    return found[-1].parent


def redis_server() -> str:
    """The redis-server binary; without one the test fails under GRADER_REQUIRE_DOCKER=1
    (CI, where scripts/test.sh installs it) and is skipped elsewhere."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed (bash scripts/ensure-redis.sh installs it)")
    return binary


def local_worker(
    submission: Path,
    *,
    import_timeout: float = 10,
    seccomp: Path | None = None,
    scratch: Path | None = None,
) -> Any:
    """A WorkerClient for ``submission`` on this machine's Python with the pack (512 MiB),
    as the judge makes one, for the tests and benchmarks that talk to a worker directly."""
    from grader.judge.worker_client import OutputSink, WorkerClient, WorkerSpec

    spec = WorkerSpec(
        python=sys.executable,
        worker_main=paths.WORKER_DIR / "main.py",
        pack_dir=paths.TEMPLATE_DIR,
        submission=submission,
        memory_bytes=512 << 20,
        seccomp=seccomp,
        scratch=scratch,
    )
    return WorkerClient(spec, import_timeout=import_timeout, output=OutputSink())
