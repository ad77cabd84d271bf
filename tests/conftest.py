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
from click.testing import CliRunner
from html_support import CHROMIUM_FLAGS, HOSTILE_FILE, LONG_LINE, SCRIPT
from support import REFERENCE, REQUIRE_DOCKER, SKELETON, SOLUTIONS, chromium_and_driver

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
    _clear_stale_leftovers(client)
    yield client
    client.close()


def _clear_stale_leftovers(client: Any) -> None:
    """Remove grader containers that exited a minute or more before this run began.

    Those are a killed run's (its process died before it could remove them): nothing
    will ever read them, and left in place they would fail every "no container left"
    check of this run. A container still running, or just finished (a grading on the
    same engine about to read it), is left alone.
    """
    from datetime import UTC, datetime, timedelta

    from grader.sandbox.docker_backend import leftover_containers

    cutoff = datetime.now(UTC) - timedelta(minutes=1)
    for container in leftover_containers(client):
        state = container.attrs.get("State", {})
        finished = str(state.get("FinishedAt", ""))[:19]
        if state.get("Status") == "created":  # never started: when it was made counts
            finished = str(container.attrs.get("Created", ""))[:19]
        if state.get("Status") not in ("exited", "dead", "created") or not finished:
            continue
        try:
            ended = datetime.fromisoformat(finished).replace(tzinfo=UTC)
        except ValueError:
            continue
        if ended < cutoff and not finished.startswith("0001"):
            print(f"removing a stale grader container {container.short_id} (exited {finished})")
            container.remove(force=True)


_skipped_docker: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "docker" in report.keywords:
        _skipped_docker.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With GRADER_REQUIRE_DOCKER=1 a skipped Docker test fails the run, whatever skipped it."""
    if REQUIRE_DOCKER and _skipped_docker:
        print(f"\n{len(_skipped_docker)} Docker test(s) were skipped: {_skipped_docker[:3]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- the class folder's pages (test_report.py, test_pages.py) ------------------------------


@pytest.fixture(scope="session")
def class_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``grade batch --similarity --format junit --help-threshold 95`` (process sandbox) on a
    small class: a disguised copy (bo of ada, with a long line), the reference with a bug
    (dee) and without (fay), the skeleton under a hostile name, a syntax error, forbidden code.
    """
    from disguise import disguise
    from solutions.mutations import MUTATIONS, apply, reference_source

    from grader.cli import cli

    root = tmp_path_factory.mktemp("batch") / "class"  # the pages' tests read it beside out/
    root.mkdir()
    original = (SOLUTIONS / "correct_relu_reordered.py").read_text(encoding="utf-8")
    (root / "ada.py").write_text(original)
    (root / "bo.py").write_text(disguise(original, seed=4) + f"\n{LONG_LINE}\n")
    (root / "cy.py").write_bytes((SOLUTIONS / "correct_gpt2_init.py").read_bytes())
    bug = next(m for m in MUTATIONS if m.id == "mask_missing")
    (root / "dee.py").write_text(apply(bug, reference_source()))
    (root / HOSTILE_FILE).write_bytes(SKELETON.read_bytes())
    (root / "eve.py").write_text(f'x = ("{SCRIPT}"\n')
    (root / "fay.py").write_bytes(REFERENCE.read_bytes())
    (root / "gus.py").write_text("import os\nx = 1\n")
    out = root.parent / "out"
    args = ["batch", str(root), "--out", str(out), "--sandbox", "process", "--similarity"]
    result = CliRunner().invoke(cli, [*args, "--format", "junit", "--help-threshold", "95"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's headless chromium through chromedriver (scripts/ensure-chromium.sh installs
    both; CI must have them, so there a missing browser fails instead of skipping)."""
    chromium, driver_path = chromium_and_driver()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()
