"""The judge's handle on the worker process that runs the student's code.

Each call has its own deadline. A call that hangs, crashes the process, exits
or exhausts memory becomes a :class:`StudentError` for that call alone: the
worker is killed and the next call starts a fresh one, so every other check
keeps its credit.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .failures import StudentError


@dataclass(frozen=True)
class WorkerSpec:
    """How to start a worker; the docker backend adds a uid switch in ``prefix``."""

    python: str
    worker_main: Path
    pack_dir: Path
    submission: Path
    scratch_dir: Path
    memory_bytes: int
    prefix: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


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


class WorkerClient:
    """Starts workers on demand and runs probes in them with a deadline each."""

    def __init__(self, spec: WorkerSpec, import_timeout: float, output: OutputSink) -> None:
        self.spec = spec
        self.import_timeout = import_timeout
        self.output = output
        self._proc: subprocess.Popen[bytes] | None = None
        self._requests: int | None = None
        self._responses: int | None = None
        self._buffer = b""

    # lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Start a worker and wait until the submission has imported."""
        self.close()
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        out_r, out_w = os.pipe()
        self.spec.scratch_dir.mkdir(parents=True, exist_ok=True)
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
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        env.update(self.spec.env)
        try:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                pass_fds=(req_r, resp_w),
                cwd=self.spec.scratch_dir,
                env=env,
                start_new_session=True,
            )
        finally:
            for fd in (req_r, resp_w, out_w):
                os.close(fd)
        self._requests, self._responses = req_w, resp_r
        self._buffer = b""
        threading.Thread(target=self.output.drain, args=(out_r,), daemon=True).start()
        message = self._read_until_final(self.import_timeout, "import minigpt")
        if "error" in message:
            self.close()
            raise StudentError(message["error"])

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            self._kill(proc)
        for fd in (self._requests, self._responses):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._requests = self._responses = None

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    # calls --------------------------------------------------------------------
    def call(self, probe: str, timeout: float, **args: Any) -> Any:
        """Run one probe; its answer, or StudentError describing the failure."""
        if self._proc is None:
            self.start()
        assert self._requests is not None
        data = (json.dumps({"probe": probe, "args": args}) + "\n").encode()
        try:
            os.write(self._requests, data)
        except (BrokenPipeError, OSError):
            self.close()
            self.start()
            assert self._requests is not None
            os.write(self._requests, data)
        message = self._read_until_final(timeout, "the grader's probe")
        if "error" in message:
            if message["error"].get("kind") == "memory":
                self.close()
            raise StudentError(message["error"])
        return message["result"]

    def _read_until_final(self, timeout: float, stage: str) -> dict[str, Any]:
        """Read messages until a final one; turn a hang or a dead worker into an error."""
        assert self._proc is not None and self._responses is not None
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                message = _decode(line)
                if message is None:
                    self.close()
                    raise StudentError(
                        {"kind": "crash", "stage": stage, "message": "its answer was garbled"}
                    )
                if "stage" in message:
                    stage = str(message["stage"])
                    continue
                if "error" in message or "result" in message or "ready" in message:
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise StudentError(
                    {"kind": "timeout", "stage": stage, "seconds": timeout, "message": ""}
                )
            ready, _, _ = select.select([self._responses], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._responses, 1 << 20)
            if chunk:
                self._buffer += chunk
                continue
            proc = self._proc
            code = proc.wait()
            self.close()
            raise StudentError(_death(code, stage))


def _decode(line: bytes) -> dict[str, Any] | None:
    """One protocol message, or None if the line is not one."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    if "error" in message and not isinstance(message["error"], dict):
        return None
    return message


def _death(code: int, stage: str) -> dict[str, Any]:
    """Why the worker ended without answering, as an error record."""
    if code < 0:
        name = signal.Signals(-code).name
        kind = "memory" if -code == signal.SIGKILL else "crash"
        return {
            "kind": kind,
            "stage": stage,
            "message": f"the process was killed by {name}",
            "exit_code": code,
        }
    return {
        "kind": "exit",
        "stage": stage,
        "message": f"the process ended with exit code {code}",
        "exit_code": code,
    }
