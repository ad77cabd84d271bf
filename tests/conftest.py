"""Shared fixtures for the grader's own tests.

Tests marked ``docker`` need a running engine and the grader image. They are
skipped when either is missing, unless GRADER_REQUIRE_DOCKER=1 (set by
``scripts/test.sh`` and so by CI), which turns a skip into a failure: CI must
never pass with the sandbox untested.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import REQUIRE_DOCKER

from grader.settings import DEFAULT_IMAGE


@pytest.fixture
def write_submission(tmp_path: Path) -> Any:
    """Write source text to a file named like a student's upload."""

    def write(source: str | bytes, name: str = "minigpt.py") -> Path:
        path = tmp_path / name
        if isinstance(source, bytes):
            path.write_bytes(source)
        else:
            path.write_text(source, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A live engine with a current grader image, or a skip (a failure in CI)."""
    from grader.errors import GraderError
    from grader.sandbox.docker_backend import check_image, docker_client

    try:
        client = docker_client()
        check_image(client, DEFAULT_IMAGE)
    except GraderError as exc:
        if REQUIRE_DOCKER:
            pytest.fail(f"Docker tests are required here but cannot run: {exc}")
        pytest.skip(f"Docker not available: {exc.message}")
    yield client
    client.close()


_skipped_docker: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "docker" in report.keywords:
        _skipped_docker.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With GRADER_REQUIRE_DOCKER=1 a skipped Docker test fails the run, whatever skipped it."""
    if REQUIRE_DOCKER and _skipped_docker:
        print(f"\n{len(_skipped_docker)} Docker test(s) were skipped: {_skipped_docker[:3]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
