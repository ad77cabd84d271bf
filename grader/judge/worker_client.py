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
import json
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .failures import StudentError, clean_text, error_record

PROTOCOL = 2
MAX_LINE_BYTES = 16 << 20  # one answer; more is a garbled answer, not a bigger buffer
WALL_FACTOR = 3.0  # wall-clock backstop: this many times the CPU budget, plus WALL_SLACK
WALL_SLACK = 10.0
CPU_POLL = 0.1  # seconds between two looks at the worker's CPU time
WRITE_TIMEOUT = 10.0  # seconds a worker may leave a full request pipe unread
CallHandler = Callable[[dict[str, Any]], dict[str, Any]]


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


def decode(line: bytes) -> dict[str, Any] | None:
    """One protocol message, or None if the line is not one (never raises)."""
    try:
        message = json.loads(line, parse_constant=_decode_constant)
    except (ValueError, RecursionError, MemoryError):
        return None
    if not isinstance(message, dict):
        return None
    if message == {"ready": True, "protocol": PROTOCOL}:
        return message
    if len(message) != 1:
        return None
    key = next(iter(message))
    if key not in ("stage", "call", "result", "error"):
        return None
    if key in ("call", "error") and not isinstance(message[key], dict):
        return None
    return message


def _stat_cpu(fields: list[bytes]) -> int:
    return sum(int(x) for x in fields[11:15])  # utime stime cutime cstime, in ticks


def process_cpu(pid: int) -> float | None:
    """CPU seconds of one process (and its reaped children), or None without /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return _stat_cpu(fields) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def group_cpu(pgid: int) -> float | None:
    """CPU seconds of a whole process group: the worker and anything it forked.

    A submission must not dodge its budget by working in a fork. Scanning
    /proc costs a few milliseconds, so the judge does it only while a request
    is running long (see CPU_POLL).
    """
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    total, found, key = 0, False, str(pgid).encode()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            if len(fields) > 14 and fields[2] == key:
                total += _stat_cpu(fields)
                found = True
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK") if found else None


class WorkerClient:
    """Starts workers on demand and sends them requests, each with a deadline."""

    def __init__(self, spec: WorkerSpec, import_timeout: float, output: OutputSink) -> None:
        self.spec = spec
        self.import_timeout = import_timeout
        self.output = output
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._requests: int | None = None
        self._responses: int | None = None
        self._buffer = b""
        self._killed = False
        self.slowest: dict[str, tuple[float, float]] = {}  # op -> (CPU seconds, budget)

    @property
    def running(self) -> bool:
        return self._proc is not None

    @property
    def generation(self) -> int:
        """Changes whenever a new worker starts: handles from an older one are void."""
        return self.starts

    # lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Start a worker and wait until the submission has imported."""
        self.close()
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        out_r, out_w = os.pipe()
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
        ]
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            # Where the worker makes its own scratch folder: inside the judge's private
            # one when it may (process backend), else the shared /tmp (Docker's other uid).
            "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        }
        env.update(self.spec.env)
        try:
            self._proc = self._spawn(command, env, req_r, resp_w, out_w)
        finally:
            for fd in (req_r, resp_w, out_w):
                os.close(fd)
        if self._proc is None:
            for fd in (req_w, resp_r, out_r):
                os.close(fd)
            raise StudentError(
                error_record(
                    {
                        "kind": "crash",
                        "stage": "starting your code",
                        "message": "no process could be started: the process limit is used "
                        "up (did your code leave processes running?)",
                    }
                )
            )
        self.starts += 1
        self._killed = False
        os.set_blocking(req_w, False)
        self._requests, self._responses = req_w, resp_r
        self._buffer = b""
        try:
            threading.Thread(target=self.output.drain, args=(out_r,), daemon=True).start()
        except RuntimeError:  # no thread left under the pids limit: read nothing, count nothing
            os.close(out_r)
        message = self._read_final(self.import_timeout, "import minigpt", None)
        if "error" in message:
            self.close()
            raise StudentError(error_record(message["error"], from_worker=True))
        if message.get("ready") is not True:
            self.close()
            raise StudentError(error_record({"kind": "crash", "message": "its answer was garbled"}))

    def _spawn(
        self, command: list[str], env: dict[str, str], req_r: int, resp_w: int, out_w: int
    ) -> subprocess.Popen[bytes] | None:
        """The worker process, or None when the system refuses a new one (EAGAIN)."""
        try:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                pass_fds=(req_r, resp_w),
                cwd="/",
                env=env,
                start_new_session=True,
            )
        except (BlockingIOError, RuntimeError):
            return None

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            self._kill(proc)
        if self.spec.sweep:  # processes that left the worker's group (setsid) die too
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)
        for fd in (self._requests, self._responses):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._requests = self._responses = None

    def _sweep_strays(self) -> None:
        """Kill processes that left the worker's group (setsid), where sweeping is safe.

        Only with ``spec.sweep`` (Docker: the container's processes are the judge,
        PID 1 and the student's). They would otherwise steal the container's CPU
        from every later request.
        """
        if not self.spec.sweep or self._proc is None:
            return
        group, me = str(self._proc.pid).encode(), os.getpid()
        try:
            entries = [e for e in os.listdir("/proc") if e.isdigit()]
        except OSError:
            return
        for entry in entries:
            pid = int(entry)
            if pid in (1, me):
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
                if fields[2] != group and int(fields[1]) != me:
                    os.kill(pid, signal.SIGKILL)
            except (OSError, IndexError, ValueError):
                continue

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        self._killed = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    # requests -----------------------------------------------------------------
    def request(
        self, op: str, timeout: float, on_call: CallHandler | None = None, **fields: Any
    ) -> Any:
        """Send one request; its ``result``, or StudentError describing the failure.

        ``on_call`` answers the worker's ``call`` messages (a wrapped model being
        called inside generate); without it every such call is refused.
        """
        if self._proc is None:
            self.start()
        data = (json.dumps({"op": op, **fields}, allow_nan=False) + "\n").encode()
        written = self._write(data)
        if written is False:  # it died since the last request: one fresh start
            self.close()
            self.start()
            written = self._write(data)
        if written is not True:
            self.close()
            raise StudentError(error_record({"kind": "crash", "message": "it stopped reading"}))
        message = self._read_final(timeout, "the grader's request", on_call, op)
        if "error" not in message and "result" not in message:  # a second "ready": forged
            self.close()
            raise StudentError(error_record({"kind": "crash", "message": "its answer was garbled"}))
        if "error" in message:
            record = error_record(message["error"], from_worker=True)
            if record["kind"] in ("memory", "protocol"):
                self.close()  # a forged or broken exchange: never read its leftovers
            raise StudentError(record)
        self._sweep_strays()
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
        self, timeout: float, stage: str, on_call: CallHandler | None, op: str = "import"
    ) -> dict[str, Any]:
        """Read messages until a final one; a hang, a garbled line or a death is an error."""
        assert self._proc is not None and self._responses is not None
        pid = self._proc.pid
        own_start = process_cpu(pid)
        wall_deadline = time.monotonic() + WALL_FACTOR * timeout + WALL_SLACK
        if own_start is None:  # no /proc: wall clock only
            wall_deadline = time.monotonic() + timeout
        # The group's CPU is counted from the first look, CPU_POLL into the request
        # (so a budget is at most CPU_POLL lenient, never strict).
        group_start: float | None = None
        next_cpu_check = time.monotonic() + CPU_POLL
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                message = decode(line)
                if message is None:
                    return self._fail({"kind": "crash", "message": "its answer was garbled"}, stage)
                if "stage" in message:
                    stage = clean_text(message["stage"], 120)
                    continue
                if "call" in message:
                    reply = on_call(message["call"]) if on_call else {"abort": 1}
                    if "abort" in reply:  # the judge has seen enough: stop it now, not later
                        return self._fail({"kind": "aborted", "message": ""}, stage)
                    written = self._write((json.dumps(reply, allow_nan=False) + "\n").encode())
                    if written is None:
                        return self._fail({"kind": "crash", "message": "it stopped reading"}, stage)
                    if written is False:
                        break
                    continue
                self._note(op, own_start, process_cpu(pid), timeout)
                return message
            if len(self._buffer) > MAX_LINE_BYTES:
                return self._fail({"kind": "crash", "message": "its answer was too large"}, stage)
            now = time.monotonic()
            if own_start is not None and now >= next_cpu_check:
                next_cpu_check = now + CPU_POLL
                used = group_cpu(pid)
                if group_start is None:
                    group_start = used
                elif used is not None and used - group_start > timeout:
                    return self._fail({"kind": "timeout", "seconds": timeout, "message": ""}, stage)
            if now > wall_deadline:
                return self._fail({"kind": "timeout", "seconds": timeout, "message": ""}, stage)
            wait = max(0.0, min(CPU_POLL, wall_deadline - now))
            ready, _, _ = select.select([self._responses], [], [], wait)
            if not ready:
                continue
            chunk = os.read(self._responses, 1 << 20)
            if chunk:
                self._buffer += chunk
                continue
            break
        proc = self._proc
        try:
            code = proc.wait(timeout=2)
        except subprocess.TimeoutExpired:  # it closed its answer pipe but lives on
            return self._fail({"kind": "crash", "message": "it closed its answer pipe"}, stage)
        killed_by_us = self._killed
        self.close()
        raise StudentError(error_record(_death(code, stage, killed_by_us)))

    def _note(self, op: str, start: float | None, end: float | None, timeout: float) -> None:
        """Keep each op's largest share of its CPU budget (the benchmarks print margins)."""
        if start is None or end is None:
            return
        used = end - start
        worst = self.slowest.get(op)
        if worst is None or used / timeout > worst[0] / worst[1]:
            self.slowest[op] = (used, timeout)

    def _fail(self, record: dict[str, Any], stage: str) -> dict[str, Any]:
        self.close()
        raise StudentError(error_record({**record, "stage": stage}))


def _death(code: int, stage: str, killed_by_us: bool) -> dict[str, Any]:
    """Why the worker ended without answering, as an error record."""
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
