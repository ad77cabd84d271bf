"""The Docker sandbox against a real engine: containment, kinds, cleanup.

Several cases run with the policy off (--unsafe-skip-policy): the policy
would refuse them first, and these tests prove that the container holds
even when a file gets past it.
"""

from __future__ import annotations

import json
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
from support import REFERENCE, REPO

from grader.api import grade
from grader.judge.delivery import NO_SUBMISSION
from grader.models import Feedback
from grader.rubric import CHECKS
from grader.sandbox import docker_backend
from grader.sandbox.docker_backend import (
    RECEIVED_SUBMISSION_PATH,
    DockerBackend,
    leftover_containers,
    remove_unused,
)
from grader.settings import DEFAULT_IMAGE, GradeSettings, Limits
from grader.submission import load_submission

pytestmark = pytest.mark.docker

GENERATE_CHECKS = {
    "generate_output",
    "generate_cropping",
    "generate_sampling",
    "generate_temperature",
}


def docker_grade(path: Path, policy: bool = True, **limits: Any) -> Feedback:
    settings = GradeSettings(sandbox="docker", limits=Limits(**limits), policy=policy)
    return grade(path, settings)


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
    """Until at least ``count`` grading containers exist (running the hanging code;
    a batch may have spares started besides)."""
    deadline = time.monotonic() + seconds
    while len(leftover_containers(client)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(leftover_containers(client)) >= count, f"expected {count} running container(s)"


@pytest.fixture(autouse=True)
def no_container_left(docker_client: Any) -> Any:
    yield
    assert leftover_containers(docker_client) == [], "a grading container was left behind"


def test_correct_solution_passes_isolated(docker_client: Any) -> None:
    feedback = docker_grade(REFERENCE)
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
    assert "uid=10001" in options["tmpfs"]["/tmp"] and "mode=0755" in options["tmpfs"]["/tmp"]
    assert options["tmpfs"]["/dev/mqueue"].startswith("ro,")
    assert options["ipc_mode"] == "none"


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
    feedback = docker_grade(write_submission(hostile.hang_at_import()), import_timeout=2)
    assert feedback.status == "error" and feedback.error is not None
    assert feedback.error.kind == "timeout"


def test_infinite_loop_in_one_function(docker_client: Any, write_submission: Any) -> None:
    feedback = docker_grade(write_submission(hostile.hang_in_generate()), call_timeout=1.0)
    assert failing(feedback) == GENERATE_CHECKS
    assert "did not finish within 1 s of CPU time in generate()" in issue(
        feedback, "generate_output"
    )


def test_wall_clock_kill(docker_client: Any, write_submission: Any) -> None:
    feedback = docker_grade(
        write_submission(hostile.hang_in_generate()), wall_timeout=6, call_timeout=30
    )
    assert feedback.status == "error" and feedback.error is not None
    assert feedback.error.kind == "timeout" and "within 6 s" in feedback.error.message
    assert feedback.gradable and feedback.score == 0


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
    feedback = docker_grade(
        write_submission(hostile.memory_bomb_in_cross_entropy()), worker_memory_mb=256
    )
    assert failing(feedback) == {"cross_entropy"}
    assert "ran out of memory" in issue(feedback, "cross_entropy")


def test_fork_bomb_hits_the_pids_limit(docker_client: Any, write_submission: Any) -> None:
    feedback = docker_grade(
        write_submission(hostile.fork_bomb()), policy=False, call_timeout=2.0, pids=32
    )
    assert failing(feedback) == GENERATE_CHECKS
    assert feedback.gradable


def test_exit_tricks(docker_client: Any, write_submission: Any) -> None:
    feedback = docker_grade(write_submission(hostile.exit_in_cross_entropy()))
    assert failing(feedback) == {"cross_entropy"}
    assert "stopped the process" in issue(feedback, "cross_entropy")
    feedback = docker_grade(write_submission(hostile.os_exit_in_generate()), policy=False)
    assert failing(feedback) == GENERATE_CHECKS
    assert "exit code 0" in issue(feedback, "generate_output")


def test_output_flood_keeps_feedback_small(docker_client: Any, write_submission: Any) -> None:
    feedback = docker_grade(write_submission(hostile.output_flood()))
    assert feedback.status == "passed"
    assert feedback.student_output.bytes > 5_000_000
    assert len(feedback.model_dump_json()) < 20_000


def test_writes_outside_scratch_fail(
    docker_client: Any, write_submission: Any, tmp_path: Path
) -> None:
    target = tmp_path / "escaped.txt"
    feedback = docker_grade(
        write_submission(hostile.write_outside_scratch(str(target))), policy=False
    )
    assert feedback.status == "passed", "the writes fail quietly; grading is unaffected"
    assert not target.exists()


@pytest.mark.parametrize("padding", [0, 200_000], ids=["small", "larger-than-a-pipe"])
def test_the_submission_cannot_change_its_own_file(
    docker_client: Any, write_submission: Any, padding: int
) -> None:
    settings = {"max_source_bytes": 300_000}
    feedback = docker_grade(
        write_submission(hostile.tamper_with_own_file(padding)), policy=False, **settings
    )
    assert feedback.error is None, feedback.error
    assert feedback.status == "passed"


def test_the_student_cannot_reach_the_stream_the_file_came_on(
    docker_client: Any, write_submission: Any
) -> None:
    feedback = docker_grade(write_submission(hostile.reach_the_judges_stdin()), policy=False)
    assert feedback.error is None, feedback.error
    assert feedback.status == "passed"


def test_the_judge_receives_the_file_on_its_stdin(docker_client: Any) -> None:
    options = DockerBackend(GradeSettings()).container_options()
    assert options["stdin_open"]
    assert options["command"][-2:] == [RECEIVED_SUBMISSION_PATH, "--stdin"]
    assert not any("minigpt" in value for value in options["environment"].values())


def graded_with(backend: DockerBackend, path: Path = REFERENCE) -> Feedback:
    submission = load_submission(path, backend.settings.limits.max_source_bytes)
    return backend.run(submission)


def wait_for_spares(backend: DockerBackend, count: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while backend.spares.ready < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert backend.spares.ready == count, "the spare container never became ready"


def verdict(feedback: Feedback) -> Any:
    return feedback.model_dump(exclude={"durations"})


def test_a_backend_that_keeps_grading_uses_containers_started_ahead(docker_client: Any) -> None:
    backend = DockerBackend(GradeSettings())
    try:
        first = graded_with(backend)
        assert backend.spares.ready == 0 and len(leftover_containers(docker_client)) == 0, (
            "one grading alone starts no spare"
        )
        second = graded_with(backend)
        wait_for_spares(backend, 1)
        time.sleep(1.0)
        third = graded_with(backend)
        assert first.durations.idle < 1.0 and second.durations.idle < 1.0
        spare_age = third.durations.judge_startup + third.durations.idle
        assert spare_age >= 1.0, "the third grading ran in the spare, started a second before"
        assert verdict(first) == verdict(second) == verdict(third)
        other = graded_with(backend, REPO / "tests" / "solutions" / "correct_naive.py")
        assert other.status == "passed", "a spare grades any file, not only the same one"
    finally:
        backend.close()
    assert leftover_containers(docker_client) == [], "closing removes the spare"


def test_a_spare_that_died_or_aged_is_never_used(docker_client: Any, monkeypatch: Any) -> None:
    backend = DockerBackend(GradeSettings())
    try:
        graded_with(backend)
        graded_with(backend)
        wait_for_spares(backend, 1)
        for container in leftover_containers(docker_client):
            container.kill()
        after_death = graded_with(backend)
        assert after_death.status == "passed" and after_death.durations.idle < 1.0
        wait_for_spares(backend, 1)
        monkeypatch.setattr(backend.spares, "_max_age", 0.5)
        time.sleep(1.0)
        aged = graded_with(backend)
        assert aged.status == "passed" and aged.durations.idle < 0.5
    finally:
        backend.close()


def test_a_judge_that_gets_no_file_gives_up_and_is_removed(docker_client: Any) -> None:
    class Impatient(DockerBackend):
        def judge_command(self, config: Any, submission: str) -> list[str]:
            return [*super().judge_command(config, submission), "--wait", "1"]

    container = Impatient(GradeSettings()).start_container()
    try:
        state = container.wait(timeout=60)
        assert state["StatusCode"] == NO_SUBMISSION
        assert b"nothing was graded" in container.logs(stdout=False, stderr=True)
        assert container.logs(stdout=True, stderr=False) == b""
        remove_unused(docker_client)
        assert leftover_containers(docker_client) == []
    finally:
        docker_backend._remove(container)


def test_student_code_runs_as_its_own_uid_without_capabilities(
    docker_client: Any, write_submission: Any
) -> None:
    feedback = docker_grade(write_submission(hostile.report_identity()), policy=False)
    assert feedback.error is None, feedback.error
    assert feedback.status == "passed"


def test_student_cannot_read_or_signal_the_judge(docker_client: Any, write_submission: Any) -> None:
    feedback = docker_grade(write_submission(hostile.read_hidden_suite()), policy=False)
    assert feedback.status == "passed", "nothing readable, nothing killable: import succeeds"


def test_framework_patching_changes_nothing(docker_client: Any, write_submission: Any) -> None:
    feedback = docker_grade(write_submission(hostile.patch_the_framework()), policy=False)
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
        feedback = docker_grade(write_submission(hostile.connect_to(port)), policy=False)
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
    feedback = docker_grade(write_submission("import os\n"))
    assert feedback.error is not None and feedback.error.kind == "policy"
    assert [c.id for c in feedback.checks] == [c.id for c in CHECKS]


def run_in_sandbox_container(client: Any, command: list[str]) -> tuple[int, bytes]:
    """Run ``command`` in a container created exactly like the backend's; exit code and stdout."""
    options = DockerBackend(GradeSettings()).container_options()
    options["command"] = command
    container = client.containers.create(DEFAULT_IMAGE, **options)
    try:
        container.start()
        state = container.wait(timeout=120)
        return state["StatusCode"], container.logs(stdout=True, stderr=False)
    finally:
        container.remove(force=True, v=True)


OPEN_DIR = "/tmp/opened-by-the-judge"
# Runs as root in the container: asks the judge's interpreter for its sys.path, then
# tries, as the student's uid, to write in every folder on it (and in each parent).
SYS_PATH_PROBE = """
import json, os, subprocess, sys
judge, student, extra = json.loads(sys.argv[1])
subprocess.run(
    judge + ["-c", "import os, sys; os.mkdir(sys.argv[1], 0o777); os.chmod(sys.argv[1], 0o777)",
             extra[-1]],
    check=True,
)
shown = subprocess.run(
    judge + ["-c", "import json, sys, grader; print(json.dumps([sys.path, grader.__file__]))"],
    capture_output=True, text=True, check=True,
)
path, grader_file = json.loads(shown.stdout)
targets = set()
for entry in [*path, *extra]:
    entry = os.path.abspath(entry or ".")
    while True:
        targets.add(entry)
        if entry == "/":
            break
        entry = os.path.dirname(entry)
attempt = '''
import json, os, sys
writable = []
for target in json.loads(sys.argv[1]):
    tries = [os.path.join(target, ".written-by-student")] if os.path.isdir(target) else [target]
    for place in tries:
        try:
            with open(place, "x" if not os.path.exists(place) else "a"):
                pass
            writable.append(target)
        except OSError:
            pass
    if not os.path.exists(target):
        try:
            os.mkdir(target)
            writable.append(target)
        except OSError:
            pass
print(json.dumps({"uid": os.getuid(), "writable": sorted(set(writable))}))
'''
tried = subprocess.run(
    student + ["-c", attempt, json.dumps(sorted(targets))],
    capture_output=True, text=True, check=True,
)
print(json.dumps({"path": path, "grader": grader_file, "targets": sorted(targets),
                  **json.loads(tried.stdout)}))
"""


def test_nothing_on_the_judges_sys_path_is_writable_by_the_student(docker_client: Any) -> None:
    """The judge imports only what root put there: no folder on its path is the student's.

    The judge's interpreter is asked for its own sys.path (as the judge's uid,
    started exactly like the judge), plus the folders the judge adds while it
    runs (the suite, the pack, the worker); then the student's uid tries to
    create a file in each of them and in every parent. A folder the judge's uid
    opens to everyone in /tmp is tried as well, to show the attempt can succeed
    where it should.
    """
    from grader.sandbox.docker_backend import JUDGE_PRIVILEGES, JUDGE_PYTHON, WORKER_PREFIX

    judge = [*JUDGE_PRIVILEGES, *JUDGE_PYTHON]
    student = [*WORKER_PREFIX, "python3", "-I", "-S"]
    extra = ["/opt/grader/grader/suite", "/opt/sandbox/pack", "/opt/sandbox/worker", OPEN_DIR]
    code, stdout = run_in_sandbox_container(
        docker_client,
        ["python3", "-I", "-S", "-c", SYS_PATH_PROBE, json.dumps([judge, student, extra])],
    )
    assert code == 0, stdout
    report = json.loads(stdout.decode().strip().splitlines()[-1])
    print("the judge's sys.path:", report["path"])
    assert report["uid"] == 10002
    assert report["grader"].startswith("/opt/grader/grader/"), "grader comes from the .pth"
    assert "/opt/grader" in report["path"]
    assert not {"", ".", "/tmp", "/submission"} & set(report["path"])
    assert report["writable"] == [OPEN_DIR], "the student can write where the judge imports from"


# Runs as root in the container: as the student's uid, tries to create a file in every
# folder of the container's filesystem (but /proc and /sys) and lists where it could.
WRITE_EVERYWHERE_PROBE = """
import json, subprocess, sys
student = json.loads(sys.argv[1])
attempt = '''
import json, os
writable = []
for root, dirs, files in os.walk("/"):
    if root in ("/proc", "/sys"):
        dirs[:] = []
        continue
    try:
        with open(os.path.join(root, ".written-by-student"), "x"):
            writable.append(root)
    except OSError:
        pass
print(json.dumps({"uid": os.getuid(), "writable": writable}))
'''
print(subprocess.run(student + ["-c", attempt], capture_output=True, text=True).stdout)
"""


def test_the_student_can_write_nowhere_in_the_container(docker_client: Any) -> None:
    """Without the worker's filter even: no folder, /tmp, /dev/shm, /dev/mqueue and the
    home included, takes a file from the student's uid (issue 22: /tmp was shared)."""
    from grader.sandbox.docker_backend import WORKER_PREFIX

    student = [*WORKER_PREFIX, "python3", "-I", "-S"]
    code, stdout = run_in_sandbox_container(
        docker_client, ["python3", "-I", "-S", "-c", WRITE_EVERYWHERE_PROBE, json.dumps(student)]
    )
    assert code == 0, stdout
    report = json.loads(stdout.decode().strip().splitlines()[-1])
    assert report == {"uid": 10002, "writable": []}


class FloodingBackend(DockerBackend):
    """The Docker backend with the judge replaced by a command that floods its output."""

    def __init__(self, code: str) -> None:
        super().__init__(GradeSettings())
        self.code = code

    def judge_command(self, config: Any, submission: str) -> list[str]:
        return ["python3", "-I", "-S", "-c", self.code]


FLOOD_STDOUT = "import os\nblock = b'x' * (1 << 20)\nfor _ in range(100):\n    os.write(1, block)\n"


def test_container_log_is_capped_on_disk(docker_client: Any) -> None:
    """A 100 MiB flood leaves at most the log cap on the engine's disk."""
    from grader.sandbox.docker_backend import LOG_MAX_SIZE

    options = DockerBackend(GradeSettings()).container_options()
    config = options["log_config"]
    assert config["Type"] == "json-file"
    assert config["Config"] == {"max-size": LOG_MAX_SIZE, "max-file": "1"}
    options["command"] = ["python3", "-I", "-S", "-c", FLOOD_STDOUT]
    container = docker_client.containers.create(DEFAULT_IMAGE, **options)
    try:
        container.start()
        assert container.wait(timeout=120)["StatusCode"] == 0
        container.reload()
        assert container.attrs["HostConfig"]["LogConfig"] == config
        log = Path(container.attrs["LogPath"])
        if log.exists():  # the engine's disk is this machine's
            assert log.stat().st_size <= 40 << 20, f"the log holds {log.stat().st_size >> 20} MiB"
    finally:
        container.remove(force=True, v=True)


def test_a_flood_on_the_judges_stdout_is_read_with_a_cap(docker_client: Any) -> None:
    import tracemalloc

    from grader.errors import SandboxFailed
    from grader.sandbox.base import ANSWER_LIMIT
    from grader.submission import Submission

    raw = REFERENCE.read_bytes()
    tracemalloc.start()
    try:
        with pytest.raises(SandboxFailed, match="answer was too large"):
            FloodingBackend(FLOOD_STDOUT).run(Submission("minigpt.py", raw, len(raw)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * ANSWER_LIMIT, f"the host held {peak >> 20} MiB of the container's output"


def test_a_flood_on_the_judges_stderr_keeps_the_answer(docker_client: Any) -> None:
    from grader.models import SCHEMA_VERSION
    from grader.submission import Submission

    answer = json.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "status": "passed",
            "summary": "after the flood",
            "score": 0,
            "max_score": 0,
        }
    )
    code = (
        "import os, sys\nblock = b'noise ' * 20000\nfor _ in range(1000):\n    os.write(2, block)\n"
        f"sys.stdout.write({answer!r} + '\\n')\n"
    )
    raw = REFERENCE.read_bytes()
    feedback = FloodingBackend(code).run(Submission("minigpt.py", raw, len(raw)))
    assert feedback.summary == "after the flood"
