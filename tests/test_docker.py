"""The Docker sandbox against a real engine: containment, kinds, cleanup.

Several cases run with the policy off (--unsafe-skip-policy): the policy
would refuse them first, and these tests prove that the container holds
even when a file gets past it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import hostile
import pytest
from conftest import REFERENCE, REPO

from grader.api import grade
from grader.models import Feedback
from grader.rubric import CHECKS
from grader.sandbox.docker_backend import DockerBackend, leftover_containers
from grader.settings import GradeSettings, Limits

pytestmark = pytest.mark.docker

GENERATE_CHECKS = {
    "generate_output",
    "generate_cropping",
    "generate_sampling",
    "generate_temperature",
}


def docker_grade(path: Path, policy: bool = True, **limits: Any) -> tuple[Feedback, float]:
    settings = GradeSettings(sandbox="docker", limits=Limits(**limits), policy=policy)
    started = time.monotonic()
    feedback = grade(path, settings)
    return feedback, time.monotonic() - started


def failing(feedback: Feedback) -> set[str]:
    return {c.id for c in feedback.checks if not c.passed}


def issue(feedback: Feedback, check: str) -> str:
    return next(c for c in feedback.checks if c.id == check).issues[0].message


def start_grade(*args: str) -> subprocess.Popen[str]:
    """`python -m grader ARGS` in the background, as a user would start it."""
    return subprocess.Popen(
        [sys.executable, "-m", "grader", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_containers(client: Any, count: int, seconds: float = 30) -> None:
    """Until ``count`` grading containers exist (they are running the hanging code)."""
    deadline = time.monotonic() + seconds
    while len(leftover_containers(client)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(leftover_containers(client)) == count, f"expected {count} running container(s)"


@pytest.fixture(autouse=True)
def no_container_left(docker_client: Any) -> Any:
    yield
    assert leftover_containers(docker_client) == [], "a grading container was left behind"


def test_correct_solution_passes_isolated(docker_client: Any) -> None:
    feedback, _ = docker_grade(REFERENCE)
    assert feedback.status == "passed" and feedback.score == 100
    assert feedback.isolated and feedback.sandbox == "docker"


def test_container_has_every_limit(docker_client: Any) -> None:
    options = DockerBackend(
        GradeSettings(limits=Limits(memory_mb=700, pids=50))
    ).container_options()
    assert options["network_mode"] == "none" and options["network_disabled"]
    assert options["mem_limit"] == options["memswap_limit"] == "700m"
    assert options["pids_limit"] == 50 and options["read_only"]
    assert options["cap_drop"] == ["ALL"]
    assert set(options["cap_add"]) == {"SETUID", "SETGID", "KILL"}
    assert options["security_opt"] == ["no-new-privileges"]
    assert "size=" in options["tmpfs"]["/tmp"]


def test_stale_or_missing_image_is_refused(docker_client: Any) -> None:
    import io

    from click.testing import CliRunner

    from grader.cli import cli
    from grader.settings import DEFAULT_IMAGE

    dockerfile = (  # the current image, relabelled as if built by an older grader
        f"FROM {DEFAULT_IMAGE}\n"
        "LABEL org.minigpt-grader.version=0.0.1 org.minigpt-grader.suite-hash=0000000000000000\n"
    )
    tag = "minigpt-grader:stale-test"
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    try:
        result = CliRunner().invoke(cli, ["--image", tag, "--format", "json", str(REFERENCE)])
        assert result.exit_code == 3
        feedback = Feedback.model_validate_json(result.stdout)
        assert not feedback.gradable and feedback.score is None
        assert "stale" in result.stderr and "grade build-image" in result.stderr
    finally:
        docker_client.images.remove(tag, force=True)
    result = CliRunner().invoke(cli, ["--image", "minigpt-grader:never-built", str(REFERENCE)])
    assert result.exit_code == 3
    assert "is not built" in result.stderr and "grade build-image" in result.stderr


def test_infinite_loop_at_import(docker_client: Any, write_submission: Any) -> None:
    feedback, seconds = docker_grade(write_submission(hostile.hang_at_import()), import_timeout=2)
    assert feedback.status == "error" and feedback.error is not None
    assert feedback.error.kind == "timeout"
    assert seconds < 30


def test_infinite_loop_in_one_function(docker_client: Any, write_submission: Any) -> None:
    feedback, seconds = docker_grade(write_submission(hostile.hang_in_generate()), call_timeout=1.0)
    assert failing(feedback) == GENERATE_CHECKS
    assert "did not finish within 1 s in generate()" in issue(feedback, "generate_output")
    assert seconds < 60


def test_wall_clock_kill(docker_client: Any, write_submission: Any) -> None:
    feedback, seconds = docker_grade(
        write_submission(hostile.hang_in_generate()), wall_timeout=6, call_timeout=30
    )
    assert feedback.status == "error" and feedback.error is not None
    assert feedback.error.kind == "timeout" and "within 6 s" in feedback.error.message
    assert feedback.gradable and feedback.score == 0
    assert seconds < 20


def test_batch_in_docker(docker_client: Any, tmp_path: Path) -> None:
    import csv

    from click.testing import CliRunner

    from grader.cli import cli

    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ann.py").write_bytes(REFERENCE.read_bytes())
    (folder / "bob.py").write_text(hostile.hang_in_generate())
    (folder / "cat.py").write_text("import subprocess\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["batch", str(folder), "--out", str(out), "-j", "2", "--test-timeout", "1"]
    )
    assert result.exit_code == 0, result.output
    with (out / "gradebook.csv").open() as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    assert rows["ann"]["score"] == "100"
    assert rows["bob"]["status"] == "failed" and rows["bob"]["generate_output"] == "0"
    assert rows["bob"]["causal_mask"] == "10"
    assert rows["cat"]["status"] == "error"


def test_ctrl_c_during_a_batch_cleans_up(docker_client: Any, tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("a", "b", "c", "d"):
        (folder / f"{name}.py").write_text(hostile.hang_in_generate())
    out = tmp_path / "out"
    proc = start_grade("batch", str(folder), "--out", str(out), "-j", "2", "--test-timeout", "60")
    wait_for_containers(docker_client, 2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "run the same command to resume" in stderr
    assert not list(out.rglob("*.tmp"))
    assert not list((out / "results").glob("*.json")), "nothing finished, nothing recorded"


def test_memory_bomb(docker_client: Any, write_submission: Any) -> None:
    feedback, seconds = docker_grade(
        write_submission(hostile.memory_bomb_in_cross_entropy()), worker_memory_mb=256
    )
    assert failing(feedback) == {"cross_entropy"}
    assert "ran out of memory" in issue(feedback, "cross_entropy")
    assert seconds < 60


def test_fork_bomb_hits_the_pids_limit(docker_client: Any, write_submission: Any) -> None:
    feedback, seconds = docker_grade(
        write_submission(hostile.fork_bomb()), policy=False, call_timeout=2.0, pids=32
    )
    assert failing(feedback) == GENERATE_CHECKS
    assert feedback.gradable
    assert seconds < 90


def test_exit_tricks(docker_client: Any, write_submission: Any) -> None:
    feedback, _ = docker_grade(write_submission(hostile.exit_in_cross_entropy()))
    assert failing(feedback) == {"cross_entropy"}
    assert "stopped the process" in issue(feedback, "cross_entropy")
    feedback, _ = docker_grade(write_submission(hostile.os_exit_in_generate()), policy=False)
    assert failing(feedback) == GENERATE_CHECKS
    assert "exit code 0" in issue(feedback, "generate_output")


def test_output_flood_keeps_feedback_small(docker_client: Any, write_submission: Any) -> None:
    feedback, _ = docker_grade(write_submission(hostile.output_flood()))
    assert feedback.status == "passed"
    assert feedback.student_output.bytes > 5_000_000
    assert len(feedback.model_dump_json()) < 20_000


def test_writes_outside_scratch_fail(
    docker_client: Any, write_submission: Any, tmp_path: Path
) -> None:
    target = tmp_path / "escaped.txt"
    feedback, _ = docker_grade(
        write_submission(hostile.write_outside_scratch(str(target))), policy=False
    )
    assert feedback.status == "passed", "the writes fail quietly; grading is unaffected"
    assert not target.exists()


def test_student_code_runs_as_its_own_uid_without_capabilities(
    docker_client: Any, write_submission: Any
) -> None:
    feedback, _ = docker_grade(write_submission(hostile.report_identity()), policy=False)
    assert feedback.error is None, feedback.error
    assert feedback.status == "passed"


def test_student_cannot_read_or_signal_the_judge(docker_client: Any, write_submission: Any) -> None:
    feedback, _ = docker_grade(write_submission(hostile.read_hidden_suite()), policy=False)
    assert feedback.status == "passed", "nothing readable, nothing killable: import succeeds"


def test_framework_patching_changes_nothing(docker_client: Any, write_submission: Any) -> None:
    feedback, _ = docker_grade(write_submission(hostile.patch_the_framework()), policy=False)
    assert feedback.status == "failed" and "generate_output" in failing(feedback)


def test_no_network_to_host_loopback(docker_client: Any, write_submission: Any) -> None:
    received: list[bytes] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        port = server.getsockname()[1]
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except OSError:
                    continue
                with conn:
                    received.append(conn.recv(100))

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        feedback, _ = docker_grade(write_submission(hostile.connect_to(port)), policy=False)
        stop.set()
        thread.join(timeout=2)
    assert feedback.status == "passed"
    assert received == []


def test_ctrl_c_leaves_no_container(docker_client: Any, write_submission: Any) -> None:
    path = write_submission(hostile.hang_at_import())
    proc = start_grade("--timeout", "120", str(path))
    wait_for_containers(docker_client, 1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Interrupted" in stderr


def test_every_check_reported_even_on_error(docker_client: Any, write_submission: Any) -> None:
    feedback, _ = docker_grade(write_submission("import os\n"))
    assert feedback.error is not None and feedback.error.kind == "policy"
    assert [c.id for c in feedback.checks] == [c.id for c in CHECKS]
