"""Docker backend: one locked-down container per submission, always removed.

The container starts as root only to let ``setpriv`` switch to the judge's
uid (10001) with exactly CAP_SETUID, CAP_SETGID and CAP_KILL (to start and
stop the worker); the worker runs as uid 10002 with no capabilities. The
judge starts up, then receives the submission on its stdin through the
engine's attach stream (:mod:`grader.judge.delivery`) and writes it to a
folder of its own that the student's uid can read but not change. So a
container can be started ahead of need (:mod:`.spares`): a backend that keeps
grading has one ready, its judge's start-up already paid, when the next file
comes. The verdict comes back on the judge's stdout, which the worker cannot
reach.

The judge runs in an isolated interpreter (``python3 -I``): no PYTHON*
variables, no user site, and not its working directory (``/tmp``, shared
with the student's uid) on ``sys.path``; the image makes ``grader``
importable through a root-owned ``.pth`` file instead. The container's log,
where its output lands, is capped on disk (LOG_MAX_SIZE) and read back with
the caps of :mod:`.base`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from .. import paths
from ..__about__ import __version__
from ..errors import Cancelled, ImageMissing, ImageStale, SandboxFailed, SandboxUnavailable
from ..judge.config import JudgeConfig
from ..judge.delivery import NO_SUBMISSION, WAIT_SECONDS, frame
from ..models import Feedback
from ..settings import GradeSettings
from ..submission import Submission
from .base import (
    ANSWER_LIMIT,
    STDERR_TAIL,
    Capture,
    answer_too_large,
    parse_judge_output,
    stderr_lines,
)
from .process import wall_timeout_feedback
from .spares import Spares

JUDGE_UID = 10001
STUDENT_UID = 10002
LABEL_VERSION = "org.minigpt-grader.version"
LABEL_SUITE = "org.minigpt-grader.suite-hash"
LABEL_RUN = "org.minigpt-grader.run"
LABEL_RECIPE = "org.minigpt-grader.recipe"  # the digest of every file it is built from
# The grading service's labels: the process that owns the container (see
# grader.service.identity), and the job it grades.
LABEL_INSTANCE = "org.minigpt-grader.instance"
LABEL_JOB = "org.minigpt-grader.job"
# Labels for the containers started in this context besides the backend's own (the
# service sets the job it grades). A container started ahead of need, in another
# thread, gets only the backend's: labels are fixed when a container is made.
CONTAINER_LABELS: ContextVar[Mapping[str, str]] = ContextVar(
    "container_labels", default=MappingProxyType({})
)
BUILD_HINT = "Build it with: grade build-image"

# The judge: uid 10001 with exactly the capabilities to start and stop the worker.
JUDGE_PRIVILEGES = [
    "setpriv",
    f"--reuid={JUDGE_UID}",
    f"--regid={JUDGE_UID}",
    "--clear-groups",
    "--inh-caps=-all,+setuid,+setgid,+kill",
    "--ambient-caps=-all,+setuid,+setgid,+kill",
]
JUDGE_PYTHON = ["python3", "-I"]  # isolated: grader comes from the image's .pth only
JUDGE_ENTRY = [*JUDGE_PRIVILEGES, *JUDGE_PYTHON, "-m", "grader.judge", "--submission"]
# PrairieLearn's entrypoint puts the file in the image's /submission folder itself.
SUBMISSION_PATH = "/submission/minigpt.py"
JUDGE_COMMAND = [*JUDGE_ENTRY, SUBMISSION_PATH]
# This backend hands the file to the judge on its stdin; the judge writes it to a
# read-only folder of its own in /tmp, named like this.
RECEIVED_SUBMISSION_PATH = "/tmp/minigpt.py"
# A spare container is used only well before its judge stops waiting for a file.
SPARE_MAX_AGE = WAIT_SECONDS - 60.0
DELIVERY_TIMEOUT = 30.0  # writing the file to the judge's stdin
# The container's log (stdout and stderr) on the engine's disk: one file, truncated
# when full. Big enough for the largest answer read back (ANSWER_LIMIT) even with
# the log's JSON escaping (up to 6 bytes per byte of output).
LOG_MAX_SIZE = "32m"
JUDGE_TMPFS_MB = 16  # the judge's private scratch: its pytest report and nothing else
WORKER_PREFIX = [
    "setpriv",
    f"--reuid={STUDENT_UID}",
    f"--regid={STUDENT_UID}",
    "--clear-groups",
    "--inh-caps=-all",
    "--ambient-caps=-all",
]


def image_judge_config(settings: GradeSettings) -> JudgeConfig:
    """The judge's configuration inside the image (paths, uids, the probe key, sweeping):
    the same for this backend and for PrairieLearn's entrypoint."""
    return JudgeConfig.from_limits(
        settings.limits,
        policy=settings.policy,
        python="python3",
        worker_prefix=WORKER_PREFIX,
        worker_dir="/opt/sandbox/worker",
        pack_dir="/opt/sandbox/pack",
        probe_key_file="/opt/grader/probe.key",
        sweep_processes=True,
        seccomp="required",
        worker_scratch="/tmp",
        container_cgroup=True,
    )


def docker_client() -> Any:
    """A client for the local engine, or SandboxUnavailable saying how to get one."""
    from docker.errors import DockerException

    import docker

    try:
        # One client serves a whole batch: enough pooled connections for its threads.
        client = docker.from_env(timeout=120, max_pool_size=32)  # type: ignore[attr-defined]
        client.ping()
    except DockerException as exc:
        raise SandboxUnavailable(
            f"Cannot reach a Docker engine ({_short(exc)}).",
            fix="Start Docker (as root: bash scripts/ensure-docker.sh), or grade without "
            "isolation: grade --sandbox process FILE",
        ) from None
    return client


def check_image(client: Any, image: str) -> None:
    """Refuse a missing image, or one built from other sources than this grader."""
    from docker.errors import ImageNotFound

    try:
        found = client.images.get(image)
    except ImageNotFound:
        raise ImageMissing(f"The grader image {image} is not built.", fix=BUILD_HINT) from None
    labels = found.labels or {}
    want = {LABEL_VERSION: __version__, LABEL_SUITE: paths.suite_hash()}
    stale = {k: labels.get(k) for k, v in want.items() if labels.get(k) != v}
    if stale:
        raise ImageStale(
            f"The grader image {image} is stale: built for suite "
            f"{labels.get(LABEL_SUITE)} / version {labels.get(LABEL_VERSION)}, this grader is "
            f"suite {want[LABEL_SUITE]} / version {want[LABEL_VERSION]}.",
            fix=BUILD_HINT,
        )
    files = paths.image_hash()
    if labels.get(LABEL_RECIPE) != files:
        raise ImageStale(
            f"The grader image {image} is stale: built from other files than this grader's "
            f"(files {labels.get(LABEL_RECIPE)}, this grader's are {files}).",
            fix=BUILD_HINT,
        )


class DockerBackend:
    name = "docker"

    def __init__(
        self,
        settings: GradeSettings,
        *,
        prestart: bool = True,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """``prestart=False``: never start a container ahead of need (benchmarks);
        ``labels``: put on each of its containers (the service's instance)."""
        self.settings = settings
        self.labels = dict(labels or {})
        self.client = docker_client()
        check_image(self.client, settings.image)
        self.last_peak_memory: int | None = None
        self.spares: Spares[Any] = Spares(
            self._start_spare, _remove, max_age=SPARE_MAX_AGE, most=8 if prestart else 0
        )
        self._swept = False

    def close(self) -> None:
        self.spares.close()
        self.client.close()

    def judge_command(self, config: JudgeConfig, submission: str) -> list[str]:
        """The container's command: the judge (tests replace it with misbehaving ones).

        The config travels in the judge's environment (GRADER_JUDGE_CONFIG), which
        only its own uid can read; a command line is world-readable in /proc.
        """
        return [*JUDGE_ENTRY, submission, "--stdin"]

    def container_options(self) -> dict[str, Any]:
        """Every limit of the sandbox, in the SDK's terms."""
        from docker.types import LogConfig

        limits = self.settings.limits
        config = image_judge_config(self.settings)
        memory = f"{limits.memory_mb}m"
        environment = {"GRADER_JUDGE_CONFIG": config.to_json(), "TMPDIR": "/judge"}
        return {
            "command": self.judge_command(config, RECEIVED_SUBMISSION_PATH),
            "environment": environment,
            "stdin_open": True,  # the file arrives there (see deliver)
            "user": "0",
            # tini as PID 1 reaps the orphans a fork bomb leaves, so their zombies do not
            # hold the pids limit and starve the workers of later checks.
            "init": True,
            "network_disabled": True,
            "network_mode": "none",
            "mem_limit": memory,
            "memswap_limit": memory,
            "nano_cpus": int(limits.cpus * 1e9),
            "pids_limit": limits.pids,
            "read_only": True,
            # /tmp holds the submission's folder and each worker's own empty folder, all
            # the judge's (0755: the image's /tmp mode, which the engine copies): the
            # student's uid can write nothing anywhere. /judge is the judge's own scratch
            # (0700). /dev/mqueue, the one other place it could write, is an empty
            # read-only tmpfs, and there is no /dev/shm (no IPC namespace to share).
            "tmpfs": {
                "/tmp": f"rw,nosuid,nodev,size={limits.tmpfs_mb}m,uid={JUDGE_UID},"
                f"gid={JUDGE_UID},mode=0755",
                "/judge": f"rw,nosuid,nodev,size={JUDGE_TMPFS_MB}m,uid={JUDGE_UID},"
                f"gid={JUDGE_UID},mode=0700",
                "/dev/mqueue": "ro,nosuid,nodev,noexec,size=4k,mode=0555",
            },
            "ipc_mode": "none",
            "cap_drop": ["ALL"],
            "cap_add": ["SETUID", "SETGID", "KILL"],
            "security_opt": ["no-new-privileges"],
            "ulimits": _ulimits(limits.open_files),
            "labels": {LABEL_RUN: "1", **self.labels, **CONTAINER_LABELS.get()},
            "log_config": LogConfig(
                type="json-file", config={"max-size": LOG_MAX_SIZE, "max-file": "1"}
            ),
            "detach": True,
        }

    def _wait(self, container: Any, timeout: float, cancel: threading.Event | None) -> Any:
        """The container's exit state; None after killing it at the wall-clock limit.

        Waits in short steps so that a cancel is honoured promptly, and samples
        the cgroup's peak memory meanwhile (the cgroup vanishes once it stops).
        """
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import ReadTimeout

        deadline = time.monotonic() + timeout
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled("Grading was cancelled.")
            peak = _peak_memory(container)
            if peak is not None:
                self.last_peak_memory = max(peak, self.last_peak_memory or 0)
            step = min(0.5, max(deadline - time.monotonic(), 0.05))
            try:
                return container.wait(timeout=step)
            except (ReadTimeout, RequestsConnectionError):
                if time.monotonic() >= deadline:
                    container.kill()
                    return None

    def start_container(self) -> Any:
        """A started grading container whose judge waits for its file."""
        container = self.client.containers.create(self.settings.image, **self.container_options())
        try:
            container.start()
        except BaseException:
            _remove(container)
            raise
        return container

    def deliver(self, container: Any, raw: bytes) -> None:
        """Write the file to the judge's stdin through the engine's attach stream."""
        attached = container.attach_socket(params={"stdin": 1, "stream": 1})
        sock = getattr(attached, "_sock", attached)  # the SDK wraps the socket in SocketIO
        try:
            sock.settimeout(DELIVERY_TIMEOUT)
            sock.sendall(frame(raw))
        finally:
            with contextlib.suppress(OSError):
                sock.shutdown(2)
            attached.close()
            sock.close()

    def _start_spare(self) -> Any:
        if not self._swept:  # once per backend, off the grading path
            self._swept = True
            remove_unused(self.client)
        return self.start_container()

    def _ready_container(self, raw: bytes) -> Any:
        """A container whose judge has the file: a spare if one is ready, else a new one."""
        from docker.errors import DockerException

        spare = self.spares.take()
        if spare is not None:
            try:
                spare.reload()  # attaching to a stopped container does not fail
                if spare.status == "running":
                    self.deliver(spare, raw)
                    return spare
            except (DockerException, OSError):
                pass
            except BaseException:  # Ctrl-C: nothing is left behind
                _remove(spare)
                raise
            _remove(spare)  # it died waiting: start one for this file
        container = self.start_container()
        try:
            self.deliver(container, raw)
        except (DockerException, OSError) as exc:
            container.reload()
            if container.status == "running":  # else its exit status and stderr tell why
                _remove(container)
                message = f"Could not hand the file to the judge: {_short(exc)}"
                raise SandboxFailed(message) from None
        except BaseException:
            _remove(container)
            raise
        return container

    def run(self, submission: Submission, cancel: threading.Event | None = None) -> Feedback:
        from docker.errors import DockerException

        limits = self.settings.limits
        container = None
        began = time.monotonic()
        try:
            container = self._ready_container(submission.raw)
            started = time.monotonic()
            state = self._wait(container, limits.wall_timeout, cancel)
            if state is None:
                return wall_timeout_feedback(limits.wall_timeout)
            ended = time.monotonic()
            stdout = read_log(container, Capture(ANSWER_LIMIT, keep="head"), stderr=False)
            if stdout.overflowed:
                raise answer_too_large(stdout)
            answer = stdout.text()
            if state.get("StatusCode") != 0 or not answer.strip():
                container.reload()
                stderr = read_log(container, Capture(STDERR_TAIL, keep="tail"), stderr=True)
                oom = container.attrs.get("State", {}).get("OOMKilled")
                raise SandboxFailed(
                    f"The judge container ended with status {state.get('StatusCode')}"
                    f"{' (out of memory)' if oom else ''}: {stderr_lines(stderr)}"
                )
            feedback = parse_judge_output(answer)
        except DockerException as exc:
            raise SandboxFailed(f"Docker failed while grading: {_short(exc)}") from None
        finally:
            self.spares.done()
            if container is not None:
                _remove(container)
        feedback.durations.sandbox_start = round(started - began, 3)
        feedback.durations.sandbox_teardown = round(time.monotonic() - ended, 3)
        return feedback


def read_log(container: Any, capture: Capture, *, stderr: bool) -> Capture:
    """One stream of a stopped container's log, streamed into ``capture``.

    A head capture stops reading once it is full: the rest is never fetched.
    The engine sends the log in frames of at most 16 KiB, so no more than
    that is held besides the capture.
    """
    stream = container.logs(stdout=not stderr, stderr=stderr, stream=True, follow=False)
    try:
        for chunk in stream:
            capture.feed(chunk)
            if capture.keep == "head" and capture.overflowed:
                break
    finally:
        stream.close()
    return capture


def _peak_memory(container: Any) -> int | None:
    """Peak memory so far from the running container's cgroup (v1 or v2), if visible here."""
    from pathlib import Path

    for path in (
        Path(f"/sys/fs/cgroup/memory/docker/{container.id}/memory.max_usage_in_bytes"),
        Path(f"/sys/fs/cgroup/system.slice/docker-{container.id}.scope/memory.peak"),
    ):
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            continue
    return None


def _remove(container: Any) -> None:
    """Remove the container and its volume; tolerate it being gone already."""
    from docker.errors import DockerException

    for _ in range(3):
        try:
            container.remove(force=True, v=True)
            return
        except DockerException as exc:
            if "No such container" in str(exc) or "is already in progress" in str(exc):
                return
            time.sleep(0.5)


def _ulimits(open_files: int) -> list[Any]:
    from docker.types import Ulimit

    return [
        Ulimit(name="nofile", soft=open_files, hard=open_files),
        Ulimit(name="core", soft=0, hard=0),
    ]


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) < 300 else text[:297] + "..."


def remove_unused(client: Any) -> None:
    """Remove the spares a grader that died left behind: containers that exited with
    NO_SUBMISSION never received a file, so nobody is waiting for their answer."""
    filters = {"label": LABEL_RUN, "status": "exited", "exited": NO_SUBMISSION}
    for container in client.containers.list(all=True, filters=filters):
        _remove(container)


def leftover_containers(client: Any) -> list[Any]:
    """Grader containers still present (a test asserts there are none)."""
    return list(client.containers.list(all=True, filters={"label": LABEL_RUN}))
