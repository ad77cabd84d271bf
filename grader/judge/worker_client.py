"""The judge's handle on the worker process that runs the student's code.

Everything that comes back from the worker is untrusted: lines are capped,
parsed defensively and checked for shape before anyone reads them. Each
request has a deadline counted in the worker's CPU seconds (so a busy machine
does not turn a correct solution into a timeout) with a generous wall-clock
backstop. A request that hangs, crashes the process, exits or exhausts memory
becomes a :class:`StudentError` for that request alone: the worker is killed
and the next request starts a fresh one, so every other check keeps its credit.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import procfs
from ..procfs import STOPPED
from .failures import StudentError, clean_text, error_record

PROTOCOL = 8
MAX_BATCH_BYTES = 64 << 10  # one batch message: a pipe buffer, so batches never raise peak memory
MAX_LINE_BYTES = 16 << 20  # one answer; more is a garbled answer, not a bigger buffer
WALL_FACTOR = 3.0  # wall-clock backstop: this many times the CPU budget, plus WALL_SLACK
WALL_SLACK = 10.0
CPU_POLL = 0.1  # seconds between two looks at the worker's CPU time
WRITE_TIMEOUT = 10.0  # seconds a worker may leave a full request pipe unread
FORK_TIMEOUT = 10.0  # seconds the fork server may take to answer with a new worker's pid
MAX_CONTROL_BYTES = 1 << 20  # unread fork-server messages; more is a flood
SWEEP_ROUNDS = 20  # scans of /proc before a sweep gives up and kills everything at once
CONFINE_TIMEOUT = 30.0  # seconds the worker's own start-up may take to install its filter
NO_PROCESS = {
    "kind": "crash",
    "stage": "starting your code",
    "message": "no process could be started: the process limit is used up (did your code "
    "leave processes running?)",
}


@dataclass
class Spent:
    """Seconds spent starting workers and in requests, and the requests' CPU seconds."""

    starts: float = 0.0
    requests: float = 0.0
    requests_cpu: float = 0.0


@dataclass(frozen=True)
class WorkerSpec:
    """How to start a worker; the docker backend adds a uid switch in ``prefix``."""

    python: str
    worker_main: Path
    pack_dir: Path
    submission: Path
    memory_bytes: int
    prefix: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    # Kill every process the judge may signal when a worker is closed: only where the
    # student's code has a uid of its own in a PID namespace of its own (Docker).
    sweep: bool = False
    # The folder holding pyseccomp: the worker filters its own system calls before the
    # import (see grader/worker/confine.py); None: no filter.
    seccomp: Path | None = None
    # Where each worker's own empty folder is made (and removed with it); None: TMPDIR.
    scratch: Path | None = None
    # The judge's cgroup is the container's: the student's CPU and the OOM killer's
    # kills are read from it (Docker, PrairieLearn), so no process escapes the count.
    cgroup: bool = False


class OutputSink:
    """Drains the student's stdout/stderr: counts every byte, keeps none of it."""

    def __init__(self) -> None:
        self.bytes = 0
        self._lock = threading.Lock()

    def drain(self, fd: int) -> None:
        try:
            while chunk := os.read(fd, 65536):
                with self._lock:
                    self.bytes += len(chunk)
        except OSError:
            pass
        finally:
            os.close(fd)


def _decode_constant(name: str) -> float:
    return float(name)  # NaN, Infinity, -Infinity: kept, so checks can name them


# What the worker says once the fork that answered an isolated group has ended and been
# reaped: only then may the judge sweep strays (the fork, finishing, is not one).
ISOLATED_END = {"isolated": "done"}


def decode(line: bytes) -> dict[str, Any] | None:
    """One protocol message, or None if the line is not one (never raises)."""
    try:
        message = json.loads(line, parse_constant=_decode_constant)
    except (ValueError, RecursionError, MemoryError):
        return None
    if not isinstance(message, dict):
        return None
    if message == {"ready": True, "protocol": PROTOCOL} or message == ISOLATED_END:
        return message
    if len(message) != 1:
        return None
    key = next(iter(message))
    if key not in ("stage", "result", "error"):
        return None
    if key == "error" and not isinstance(message[key], dict):
        return None
    return message


def decode_control(line: bytes) -> dict[str, int] | None:
    """A fork-server message, ``{"pid": N}`` or ``{"exit": N, "status": S}``; None if not one."""
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict) or set(message) not in ({"pid"}, {"exit", "status"}):
        return None
    if not all(type(v) is int and 0 <= v < 1 << 31 for v in message.values()):
        return None
    return message


class CpuClock:
    """CPU seconds of one process (and its reaped children), or None without /proc.

    The judge looks twice per request, hundreds of times a grading: the /proc
    file stays open and is re-read in place (no open per look), and being tied
    to the process, not to its number, it can never read a process that reused
    the pid after this one died.
    """

    def __init__(self, pid: int | None) -> None:
        self._fd: int | None = None
        if pid is not None:
            with contextlib.suppress(OSError):
                self._fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)

    def read(self) -> float | None:
        return self.look()[0]

    def look(self) -> tuple[float | None, bytes]:
        """CPU seconds and the /proc state letter (b"" when unknown)."""
        stat = None if self._fd is None else procfs.read_stat_at(self._fd)
        return (None, b"") if stat is None else (stat.cpu_seconds, stat.state)

    def once(self) -> bytes:
        """The state letter, for a clock made for one look: then closed."""
        state = self.look()[1]
        self.close()
        return state

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


class ConfinementFailed(RuntimeError):
    """The worker could not install its seccomp filter: the grader's failure, never the
    student's (it happens before their code runs), so the run is not gradable."""


def seccomp_library(mode: str) -> Path | None:
    """The folder holding pyseccomp for the worker's filter, per the config's ``seccomp``:
    ``required`` (Docker: missing is our failure), ``auto`` (when this machine has it),
    ``off``."""
    if mode == "off":
        return None
    import importlib.util

    spec = importlib.util.find_spec("pyseccomp") if os.path.isdir("/proc/self") else None
    found = Path(spec.origin).parent if spec is not None and spec.origin else None
    if found is not None and mode == "auto":
        try:  # the library itself, as the worker will load it
            import ctypes

            ctypes.CDLL("libseccomp.so.2")
        except OSError:
            found = None
    if found is None and mode == "required":
        raise ConfinementFailed("the worker's seccomp filter needs pyseccomp and libseccomp")
    return found


# The container's CPU time (v1: cpuacct, in ns; v2: cpu.stat, in us) and its OOM kills.
CGROUP_CPU = (
    ("/sys/fs/cgroup/cpuacct/cpuacct.usage", b"", 1e-9),
    ("/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage", b"", 1e-9),
    ("/sys/fs/cgroup/cpu.stat", b"usage_usec", 1e-6),
)
CGROUP_OOM = (
    ("/sys/fs/cgroup/memory/memory.oom_control", b"oom_kill", 1.0),
    ("/sys/fs/cgroup/memory.events", b"oom_kill", 1.0),
)


class CgroupCounter:
    """One counter of the container's cgroup, kept open and re-read in place."""

    def __init__(self, candidates: tuple[tuple[str, bytes, float], ...]) -> None:
        self._fd: int | None = None
        for path, key, scale in candidates:
            with contextlib.suppress(OSError):
                self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                self._key, self._scale = key, scale
                if self.read() is not None:
                    return
                os.close(self._fd)
            self._fd = None

    def read(self) -> float | None:
        if self._fd is None:
            return None
        try:
            text = os.pread(self._fd, 4096, 0)
        except OSError:
            return None
        for line in text.splitlines():
            words = line.split()
            if (not self._key and len(words) == 1) or (words and words[0] == self._key):
                with contextlib.suppress(ValueError, IndexError):
                    return int(words[-1]) * self._scale
        return None


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def group_cpu(pgid: int) -> float | None:
    """CPU seconds of a whole process group: the worker and anything it forked.

    A submission must not dodge its budget by working in a fork. Scanning
    /proc costs a few milliseconds, so the judge does it only while a request
    is running long (see CPU_POLL).
    """
    stats = [procfs.read_stat(pid) for pid in procfs.pids() or []]
    ticks = [stat.cpu_ticks for stat in stats if stat is not None and stat.group == pgid]
    return sum(ticks) / procfs.TICKS if ticks else None


class WorkerClient:
    """Starts workers on demand and sends them requests, each with a deadline."""

    def __init__(self, spec: WorkerSpec, import_timeout: float, output: OutputSink) -> None:
        self.spec = spec
        self.import_timeout = import_timeout
        self.output = output
        self.starts = 0
        self._zygote: subprocess.Popen[bytes] | None = None  # the fork server
        self._control: socket.socket | None = None  # its socket: fork requests, exit reports
        self._control_buffer = b""
        self._exits: dict[int, int] = {}  # worker pid -> wait status, as the fork server said
        self._pid: int | None = None  # the current worker
        self._requests: int | None = None
        self._responses: int | None = None
        self._buffer = b""
        self._clock = CpuClock(None)  # the current worker's
        self._killed = False
        self.slowest: dict[str, tuple[float, float]] = {}  # op -> (CPU seconds, budget)
        self.spent = Spent()
        self._names = itertools.count()
        self._folder: Path | None = None  # the current worker's own folder
        self._zygote_folder: Path | None = None
        self._cgroup_cpu = CgroupCounter(CGROUP_CPU) if spec.cgroup else None
        self._cgroup_oom = CgroupCounter(CGROUP_OOM) if spec.cgroup else None
        self._oom_seen = self._cgroup_oom.read() if self._cgroup_oom else None

    @property
    def running(self) -> bool:
        return self._pid is not None

    @property
    def generation(self) -> int:
        """Changes whenever a new worker starts: handles from an older one are void."""
        return self.starts

    # lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Start a worker and wait until the submission has imported."""
        began = time.monotonic()
        try:
            self._start()
        finally:
            self.spent.starts += time.monotonic() - began

    def _start(self) -> None:
        self.close()
        if self._zygote is None or self._zygote.poll() is not None:
            self._start_fork_server()
        self._fork()

    def _start_fork_server(self) -> None:
        """Start the process that imports the submission once and forks every worker.

        Its import is the student's import: an error or a timeout there is
        reported exactly as a worker's would be.
        """
        self._stop_fork_server()
        self._zygote_folder = self._new_folder("import")
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        out_r, out_w = os.pipe()
        confined_r, confined_w = os.pipe() if self.spec.seccomp else (-1, -1)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        command = [
            *self.spec.prefix,
            self.spec.python,
            "-I",
            "-S",
            "-B",
            str(self.spec.worker_main),
            "--submission",
            str(self.spec.submission),
            "--pack",
            str(self.spec.pack_dir),
            "--requests",
            str(req_r),
            "--responses",
            str(resp_w),
            "--memory-bytes",
            str(self.spec.memory_bytes),
            "--control",
            str(theirs.fileno()),
            "--scratch",
            str(self._zygote_folder or ""),
        ]
        if self.spec.seccomp is not None:
            command += ["--seccomp", str(self.spec.seccomp), "--confined", str(confined_w)]
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            # Where the worker makes its own scratch folder: inside the judge's private
            # one when it may (process backend), else the shared /tmp (Docker's other uid).
            "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        }
        env.update(self.spec.env)
        keep = (req_r, resp_w, theirs.fileno(), *([confined_w] if confined_w >= 0 else []))
        try:
            zygote = self._spawn(command, env, keep, out_w)
        finally:
            for fd in (req_r, resp_w, out_w, confined_w):
                if fd >= 0:
                    os.close(fd)
            theirs.close()
        if zygote is None:
            for fd in (req_w, resp_r, out_r, confined_r):
                if fd >= 0:
                    os.close(fd)
            ours.close()
            raise StudentError(error_record(NO_PROCESS))
        self._zygote, self._control, self._control_buffer = zygote, ours, b""
        self._exits.clear()
        if confined_r >= 0 and not _confirmed(confined_r):
            for fd in (req_w, resp_r, out_r):
                os.close(fd)
            self._stop_fork_server()
            raise ConfinementFailed(
                "the student's process could not install its seccomp filter (its stderr: "
                "libseccomp or pyseccomp missing from the image?)"
            )
        try:
            threading.Thread(target=self.output.drain, args=(out_r,), daemon=True).start()
        except RuntimeError:  # no thread left under the pids limit: read nothing, count nothing
            os.close(out_r)
        self._attach(zygote.pid, req_w, resp_r)
        try:
            self._expect_ready("import minigpt")
        finally:  # the fork server's own pipes carry nothing after its first answer
            self._detach()

    def _fork(self) -> None:
        """A fresh worker from the fork server, on two new pipes of its own."""
        assert self._zygote is not None and self._control is not None
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        self._folder = self._new_folder("worker")
        try:
            text = str(self._folder or "").encode() + b"\n"
            socket.send_fds(self._control, [text], [req_r, resp_w])
            pid = self._read_control_pid()
        except (OSError, StudentError):
            os.close(req_w)
            os.close(resp_r)
            self._stop_fork_server()
            raise StudentError(error_record(NO_PROCESS)) from None
        finally:
            os.close(req_r)
            os.close(resp_w)
        if not self._is_child_of_fork_server(pid):  # a pid it made up: never signal that one
            os.close(req_w)
            os.close(resp_r)
            self._stop_fork_server()
            raise StudentError(error_record({"kind": "crash", "message": "its answer was garbled"}))
        self._attach(pid, req_w, resp_r)
        self.starts += 1
        self._expect_ready("starting your code")
        if not self._is_child_of_fork_server(pid, own_group=True):
            self.close()
            raise StudentError(error_record({"kind": "crash", "message": "its answer was garbled"}))

    def _attach(self, pid: int, requests: int, responses: int) -> None:
        os.set_blocking(requests, False)
        self._pid, self._requests, self._responses = pid, requests, responses
        self._clock = CpuClock(pid)
        self._buffer = b""
        self._killed = False

    def _detach(self) -> None:
        self._clock.close()
        for fd in (self._requests, self._responses):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._pid = self._requests = self._responses = None

    def _new_folder(self, kind: str) -> Path | None:
        """A fresh empty folder for one process of the student's: its working directory
        and TMPDIR, removed when that process is stopped. Judge-owned: in Docker the
        student's uid can read it but write nothing (nor anywhere else)."""
        root = self.spec.scratch or Path(tempfile.gettempdir())
        folder = root / f"{kind}-{os.getpid()}-{next(self._names)}"
        try:
            folder.mkdir(mode=0o755)
        except OSError:
            return None
        return folder

    @staticmethod
    def _remove_folder(folder: Path | None) -> None:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _expect_ready(self, stage: str) -> None:
        message = self._read_final(self.import_timeout, stage)
        if "error" in message:
            self.close()
            raise StudentError(error_record(message["error"], from_worker=True))
        if message.get("ready") is not True:
            self.close()
            raise StudentError(error_record({"kind": "crash", "message": "its answer was garbled"}))

    def _is_child_of_fork_server(self, pid: int, own_group: bool = False) -> bool:
        """The pid is a child of the fork server's (and, once it is ready, leads a process
        group of its own). Checked before the judge ever signals it: the pid comes from
        the student's process, and the judge may kill any process (CAP_KILL)."""
        if self._zygote is None or pid <= 1 or pid == os.getpid():
            return False
        stat = procfs.read_stat(pid)
        if stat is None:
            return not os.path.isdir("/proc/self")  # no /proc to check with
        return stat.parent == self._zygote.pid and (stat.group == pid or not own_group)

    def _spawn(
        self, command: list[str], env: dict[str, str], keep: tuple[int, ...], out_w: int
    ) -> subprocess.Popen[bytes] | None:
        """The fork server's process, or None when the system refuses a new one (EAGAIN)."""
        try:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                pass_fds=keep,
                cwd="/",
                env=env,
                start_new_session=True,
            )
        except (BlockingIOError, RuntimeError):
            return None

    # the fork server's control socket -------------------------------------------
    def _read_control(self, timeout: float) -> list[dict[str, int]]:
        """The fork server's messages that arrive within ``timeout``; exits are filed away.

        It is the student's process: a line that is not one of its two messages,
        or a flood, ends it (StudentError).
        """
        assert self._control is not None
        ready, _, _ = select.select([self._control], [], [], timeout)
        if not ready:
            return []
        chunk = self._control.recv(65536)
        if not chunk:
            raise StudentError(error_record({"kind": "crash", "message": "it stopped answering"}))
        self._control_buffer += chunk
        if len(self._control_buffer) > MAX_CONTROL_BYTES:
            raise StudentError(error_record({"kind": "crash", "message": "its answer was garbled"}))
        found = []
        while b"\n" in self._control_buffer:
            line, self._control_buffer = self._control_buffer.split(b"\n", 1)
            message = decode_control(line)
            if message is None:
                raise StudentError(
                    error_record({"kind": "crash", "message": "its answer was garbled"})
                )
            if "exit" in message:
                self._exits[message["exit"]] = message["status"]
            else:
                found.append(message)
        return found

    def _read_control_pid(self) -> int:
        deadline = time.monotonic() + FORK_TIMEOUT
        while (remaining := deadline - time.monotonic()) > 0:
            for message in self._read_control(min(remaining, CPU_POLL)):
                return message["pid"]
            if self._zygote is not None and CpuClock(self._zygote.pid).once() in STOPPED:
                break  # stopped: it will never answer
        raise StudentError(error_record({"kind": "crash", "message": "it did not start a worker"}))

    def _exit_code(self, pid: int, timeout: float) -> int | None:
        """How ``pid`` ended (a negative signal number, or an exit code); None if unknown."""
        if self._zygote is not None and pid == self._zygote.pid:
            try:
                return self._zygote.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        deadline = time.monotonic() + timeout
        while pid not in self._exits:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._control is None:
                return None
            try:
                self._read_control(min(remaining, 0.05))
            except StudentError:
                self._stop_fork_server()
                return None
            if pid not in self._exits and not os.path.exists(f"/proc/{pid}"):
                return None  # gone, and its parent will not say how
        try:
            return os.waitstatus_to_exitcode(self._exits.pop(pid))
        except ValueError:  # not a status a process can end with: the fork server lied
            return None

    # stopping -------------------------------------------------------------------
    def close(self) -> None:
        """Stop the current worker (the fork server stays, pristine, for the next)."""
        pid = self._pid
        if pid is not None:
            self._kill(pid)
        if self.spec.sweep:  # processes that left the worker's group (setsid) die too
            self._sweep(spare=None)
        self._detach()
        self._remove_folder(self._folder)
        self._folder = None

    def shutdown(self) -> None:
        """Stop everything: the worker, the fork server, and in Docker every stray."""
        self.close()
        self._stop_fork_server()
        if self.spec.sweep:
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)

    def _stop_fork_server(self) -> None:
        zygote, self._zygote = self._zygote, None
        if zygote is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(zygote.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                zygote.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                zygote.wait(timeout=5)
        if self._control is not None:
            self._control.close()
            self._control = None
        self._remove_folder(self._zygote_folder)
        self._zygote_folder = None

    def _sweep_strays(self) -> None:
        """After a request, kill every process the worker left behind (in its group or
        not: a fork may not have reached its setsid yet). They would otherwise steal
        the container's CPU from every later request."""
        if self.spec.sweep and self._pid is not None:
            self._sweep(spare=self._pid)

    def _sweep(self, spare: int | None) -> None:
        """Kill every process but PID 1, this judge, its own children (the fork server)
        and ``spare``, until none is left. Only with ``spec.sweep`` (Docker: the
        container's processes are the judge, PID 1 and the student's).

        A process forking faster than the scan kills must lose: the pids limit bounds
        it, and after SWEEP_ROUNDS the fork server and everything else go at once.
        """
        me = os.getpid()
        for _ in range(SWEEP_ROUNDS):
            entries = procfs.pids()
            if entries is None:
                return
            killed = 0
            for pid in entries:
                if pid in (1, me, spare):
                    continue
                stat = procfs.read_stat(pid)
                if stat is None or stat.state == b"Z" or stat.parent == me:
                    continue
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
            if not killed:
                return
        self._stop_fork_server()
        with contextlib.suppress(OSError):
            os.kill(-1, signal.SIGKILL)

    def _kill(self, pid: int) -> None:
        self._killed = True
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self._exit_code(pid, 5)

    # requests -----------------------------------------------------------------
    def request(self, op: str, timeout: float, **fields: Any) -> Any:
        """Send one request; its ``result``, or StudentError describing the failure."""
        return self.request_many([(op, fields)], timeout)[0]

    def request_many(
        self,
        calls: Iterable[tuple[str, dict[str, Any]]],
        timeout: float,
        *,
        isolated: bool = False,
    ) -> list[Any]:
        """Several requests in one exchange: their results, in order.

        The worker runs them one after another, each with ``timeout``, exactly
        as if they were sent one by one; the first failure is raised and the
        requests after it never run. One message instead of one per request
        saves a round trip each (a grading sends hundreds). ``isolated``: they
        run in a fork of the worker whose memory dies with it (nothing they
        keep survives them), so what they saw cannot colour a later answer.
        """
        began, starts = time.monotonic(), self.spent.starts
        try:
            results: list[Any] = []
            for chunk in chunk_requests(calls):
                results += self._exchange(chunk, timeout, isolated)
            return results
        finally:  # a restart inside the request counts as a start, not as the request
            self.spent.requests += time.monotonic() - began - (self.spent.starts - starts)

    def _exchange(
        self, requests: list[tuple[str, str]], timeout: float, isolated: bool = False
    ) -> list[Any]:
        if self._pid is None:
            self.start()
        texts = [text for _, text in requests]
        op = "isolated" if isolated else "batch"
        line = (
            texts[0]
            if len(texts) == 1 and not isolated
            else '{"op":"' + op + '","requests":[' + ",".join(texts) + "]}"
        )
        data = (line + "\n").encode()
        written = self._write(data)
        if written is False:  # it died since the last request: one fresh start
            self.close()
            self.start()
            written = self._write(data)
        if written is not True:
            self.close()
            raise StudentError(error_record({"kind": "crash", "message": "it stopped reading"}))
        results = [self._answer(op, timeout) for op, _ in requests]
        if isolated:  # the fork may still be exiting: wait until the worker has reaped it
            self._read_final(timeout, "the grader's request", "isolated", until_end=True)
        self._sweep_strays()
        return results

    def _answer(self, op: str, timeout: float) -> Any:
        """The result of the next request the worker runs, or its failure raised."""
        message = self._read_final(timeout, "the grader's request", op)
        if "error" not in message and "result" not in message:  # a second "ready": forged
            self.close()
            raise StudentError(error_record({"kind": "crash", "message": "its answer was garbled"}))
        if "error" in message:
            record = error_record(message["error"], from_worker=True)
            if record["kind"] in ("memory", "protocol"):
                self.close()  # a forged or broken exchange: never read its leftovers
            raise StudentError(record)
        return message["result"]

    def _write(self, data: bytes, timeout: float = WRITE_TIMEOUT) -> bool | None:
        """Write to the worker: True when done, False if it is gone, None if it stopped reading.

        The pipe is non-blocking, so a worker that never reads (and fills the
        pipe) costs at most ``timeout`` seconds, never a hang.
        """
        assert self._requests is not None
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view:
            try:
                view = view[os.write(self._requests, view) :]
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                select.select([], [self._requests], [], min(remaining, 0.5))
            except OSError:  # BrokenPipeError: the worker is gone
                return False
        return True

    def _read_final(
        self, timeout: float, stage: str, op: str = "import", until_end: bool = False
    ) -> dict[str, Any]:
        """Read messages until a final one; a hang, a garbled line or a death is an error.
        ``until_end``: until the end of an isolated group (skipped otherwise: the end of a
        group whose failure was already raised arrives before the next answer)."""
        assert self._pid is not None and self._responses is not None
        pid = self._pid
        clock = self._clock
        own_start = clock.read()
        wall_deadline = time.monotonic() + WALL_FACTOR * timeout + WALL_SLACK
        if own_start is None:  # no /proc: wall clock only
            wall_deadline = time.monotonic() + timeout
        # Every process of the container but the judge counts (the cgroup's CPU less the
        # judge's own), from the start; without the cgroup, the worker's process group,
        # from the first look CPU_POLL into the request (so at most CPU_POLL lenient).
        group_start = self._student_cpu(pid) if self._cgroup_cpu is not None else None
        if self._cgroup_oom is not None:  # an OOM kill from now on is this request's
            self._oom_seen = self._cgroup_oom.read()
        next_cpu_check = time.monotonic() + CPU_POLL
        dead = False
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                message = decode(line)
                if message is None:
                    return self._fail({"kind": "crash", "message": "its answer was garbled"}, stage)
                if "stage" in message:
                    stage = clean_text(message["stage"], 120)
                    continue
                if (message == ISOLATED_END) != until_end:
                    if until_end:  # an answer where the group's end belongs: forged
                        return self._fail(
                            {"kind": "crash", "message": "its answer was garbled"}, stage
                        )
                    continue
                self._note(op, own_start, clock.read(), timeout)
                return message
            if len(self._buffer) > MAX_LINE_BYTES:
                return self._fail({"kind": "crash", "message": "its answer was too large"}, stage)
            now = time.monotonic()
            if own_start is not None and now >= next_cpu_check:
                next_cpu_check = now + CPU_POLL
                if self._zygote is not None and pid == self._zygote.pid:  # died importing?
                    dead = self._zygote.poll() is not None
                    if dead:
                        self._drain_responses()
                        continue
                if clock.look()[1] in STOPPED or _child_stopped(pid):  # no CPU: only the wall
                    return self._fail(
                        {"kind": "timeout", "seconds": timeout, "message": STOPPED_MESSAGE}, stage
                    )
                used = self._student_cpu(pid)
                if group_start is None:
                    group_start = used
                elif used is not None and used - group_start > timeout:
                    return self._fail({"kind": "timeout", "seconds": timeout, "message": ""}, stage)
            if now > wall_deadline:
                return self._fail({"kind": "timeout", "seconds": timeout, "message": ""}, stage)
            wait = max(0.0, min(CPU_POLL, wall_deadline - now))
            if dead:  # what it wrote before dying is read; no final answer came
                break
            watched = [self._responses]
            if self._control is not None and self._zygote is not None and pid != self._zygote.pid:
                watched.append(self._control.fileno())  # its death, even if a fork holds the pipe
            ready, _, _ = select.select(watched, [], [], wait)
            if not ready:
                continue
            if self._responses not in ready:
                try:
                    self._read_control(0)
                except StudentError:  # the fork server broke; this worker may still answer
                    self._stop_fork_server()
                dead = pid in self._exits
                if dead:
                    self._drain_responses()
                continue
            chunk = os.read(self._responses, 1 << 20)
            if chunk:
                self._buffer += chunk
                continue
            break
        code = self._exit_code(pid, 2)
        if code is None and os.path.exists(f"/proc/{pid}"):  # it closed its pipe but lives on
            return self._fail({"kind": "crash", "message": "it closed its answer pipe"}, stage)
        killed_by_us = self._killed
        self.close()
        # A SIGKILL we did not send, or a status lost with the fork server (the killer
        # may take it too), while the cgroup counted an OOM kill: out of memory.
        if code in (None, -signal.SIGKILL) and not killed_by_us and self._oom_killed():
            raise StudentError(
                error_record({"kind": "memory", "stage": stage, "message": OOM_MESSAGE})
            )
        raise StudentError(error_record(_death(code, stage, killed_by_us)))

    def _student_cpu(self, pid: int) -> float | None:
        """CPU seconds of the student's processes so far: the container's cgroup less the
        judge's own (every process of theirs, those that left the group or ended
        included), or without a cgroup the worker's process group."""
        if self._cgroup_cpu is not None:
            total = self._cgroup_cpu.read()
            if total is not None:
                return total - own_cpu()
        return group_cpu(pid)

    def _oom_killed(self) -> bool:
        """The container's OOM killer killed something during this request. It only ever
        picks the student's processes (theirs have oom_score_adj 1000, which they cannot
        lower), so a worker that died by a SIGKILL we did not send ran out of memory."""
        if self._cgroup_oom is None:
            return False
        seen, self._oom_seen = self._oom_seen, self._cgroup_oom.read()
        return seen is not None and self._oom_seen is not None and self._oom_seen > seen

    def _drain_responses(self) -> None:
        """Take in whatever is readable on the answer pipe now, without waiting."""
        assert self._responses is not None
        while len(self._buffer) <= MAX_LINE_BYTES:
            ready, _, _ = select.select([self._responses], [], [], 0)
            chunk = os.read(self._responses, 1 << 20) if ready else b""
            if not chunk:
                return
            self._buffer += chunk

    def _note(self, op: str, start: float | None, end: float | None, timeout: float) -> None:
        """Keep each op's largest share of its CPU budget (the benchmarks print margins)."""
        if start is None or end is None:
            return
        used = end - start
        if op != "import":
            self.spent.requests_cpu += used
        worst = self.slowest.get(op)
        if worst is None or used / timeout > worst[0] / worst[1]:
            self.slowest[op] = (used, timeout)

    def _fail(self, record: dict[str, Any], stage: str) -> dict[str, Any]:
        self.close()
        raise StudentError(error_record({**record, "stage": stage}))


def _child_stopped(pid: int) -> bool:
    """Is a child of the worker stopped? (An isolated group runs in a fork the worker
    waits for: the worker itself sleeps then, and only its child's state tells.)"""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as handle:
            children = handle.read().split()[:64]
    except OSError:
        return False
    for child in children:
        stat = procfs.read_stat(int(child)) if child.isdigit() else None
        if stat is not None and stat.state in STOPPED:
            return True
    return False


STOPPED_MESSAGE = "its process was stopped (SIGSTOP or a tracer), so it could never finish"
OOM_MESSAGE = "the container ran out of memory and the kernel stopped your code"


def _confirmed(fd: int) -> bool:
    """The worker wrote "1" on its confinement pipe and closed it (before the import)."""
    data = b""
    deadline = time.monotonic() + CONFINE_TIMEOUT
    try:
        while len(data) < 8 and (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], remaining)
            chunk = os.read(fd, 8) if ready else b""
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    return data == b"1"


def chunk_requests(
    calls: Iterable[tuple[str, dict[str, Any]]],
) -> Iterator[list[tuple[str, str]]]:
    """Each request encoded once, in groups of at most MAX_BATCH_BYTES, made as they are
    sent: no more than one group's text (and what ``calls`` yields for it) is ever held."""
    chunk: list[tuple[str, str]] = []
    size = 0
    for op, fields in calls:
        text = json.dumps({"op": op, **fields}, allow_nan=False)
        if chunk and size + len(text) > MAX_BATCH_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append((op, text))
        size += len(text) + 1
    if chunk:
        yield chunk


def _death(code: int | None, stage: str, killed_by_us: bool) -> dict[str, Any]:
    """Why the worker ended without answering, as an error record."""
    if code is None:  # its status is lost (its parent, the fork server, died too)
        return {
            "kind": "crash",
            "stage": stage,
            "message": "the process was killed",
            "signal": not killed_by_us,
        }
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return {
            "kind": "crash",
            "stage": stage,
            "message": f"the process was killed by {name}",
            "signal": not killed_by_us,
        }
    return {
        "kind": "exit",
        "stage": stage,
        "message": f"the process ended with exit code {code}",
    }
