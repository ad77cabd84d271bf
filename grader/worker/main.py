"""Worker process: imports the student's minigpt.py and answers probe requests.

The judge talks to this process over two dedicated pipes (``--requests`` and
``--responses``), one JSON object per line. The student's prints go to
stdout/stderr, which the judge reads separately and never parses, so nothing a
submission prints can pass for an answer. Every reply is plain data; the
verdict is computed on the judge's side.

Messages sent to the judge:
  {"ready": true, "protocol": 1}       the submission imported
  {"stage": "MiniGPT.forward()"}        about to call this student function
  {"result": ...}                       a probe's plain-data answer
  {"error": {...}}                      the student's code failed (see describe_error)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

PROTOCOL = 1
MAX_MESSAGE_CHARS = 300
MAX_CODE_CHARS = 120


class Channel:
    """Line-delimited JSON over the two pipes the judge handed us."""

    def __init__(self, requests_fd: int, responses_fd: int) -> None:
        self._requests = os.fdopen(requests_fd, "rb")
        self._responses_fd = responses_fd

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, allow_nan=True) + "\n").encode()
        view = memoryview(data)
        while view:
            written = os.write(self._responses_fd, view)
            view = view[written:]

    def receive(self) -> dict[str, Any] | None:
        line = self._requests.readline()
        if not line:
            return None
        message: dict[str, Any] = json.loads(line)
        return message


def _safe_str(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a student's exception may have a broken __str__
        text = "<message could not be read>"
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text


def describe_error(exc: BaseException, submission: Path, stage: str) -> dict[str, Any]:
    """Plain-data description of a failure, pointing at the student's own line."""
    # Late import: probes imports the pack, which must be on sys.path first.
    from probes import ProbeError  # type: ignore[import-not-found]  # worker's own dir

    kind = "exception"
    if isinstance(exc, NotImplementedError):
        kind = "not_implemented"
    elif isinstance(exc, MemoryError):
        kind = "memory"
    elif isinstance(exc, SystemExit | KeyboardInterrupt):
        kind = "exit"
    elif isinstance(exc, ProbeError):
        kind = exc.kind
    line = None
    code = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename) == submission:
            line = frame.lineno
            code = (frame.line or "").strip()[:MAX_CODE_CHARS] or None
    return {
        "kind": kind,
        "type": type(exc).__name__,
        "message": _safe_str(exc),
        "stage": stage,
        "line": line,
        "code": code,
    }


def limit_resources(memory_bytes: int) -> None:
    """Cap this process before student code runs: a blow-up raises MemoryError here."""
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))


def load_submission(path: Path) -> ModuleType:
    """Import the file as the module ``minigpt``, keeping its real path for tracebacks."""
    spec = importlib.util.spec_from_file_location("minigpt", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["minigpt"] = module
    spec.loader.exec_module(module)
    return module


def serve(channel: Channel, submission: Path) -> None:
    import probes  # the worker's own folder is on sys.path

    stage = "import minigpt"

    def on_stage(name: str) -> None:
        nonlocal stage
        stage = name
        channel.send({"stage": name})

    probes.set_stage_hook(on_stage)
    try:
        module = load_submission(submission)
    except BaseException as exc:
        channel.send({"error": describe_error(exc, submission, stage)})
        return
    channel.send({"ready": True, "protocol": PROTOCOL})

    while (request := channel.receive()) is not None:
        stage = "the grader's probe"
        probe = probes.PROBES.get(request.get("probe", ""))
        if probe is None:
            channel.send({"error": {"kind": "protocol", "message": "unknown probe"}})
            continue
        try:
            result = probe(module, **request.get("args", {}))
        except BaseException as exc:
            failure = describe_error(exc, submission, stage)
            del exc  # drop the traceback's frames (and their memory) before replying
            channel.send({"error": failure})
            if failure["kind"] == "memory":
                return  # the heap may be in a bad state: let the judge start afresh
            continue
        channel.send({"result": result})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submission", type=Path, required=True)
    parser.add_argument("--pack", type=Path, required=True, help="folder with engine.py, nn.py")
    parser.add_argument("--requests", type=int, required=True, help="fd to read requests from")
    parser.add_argument("--responses", type=int, required=True, help="fd to write answers to")
    parser.add_argument("--memory-bytes", type=int, default=0, help="address-space limit")
    args = parser.parse_args(argv)
    limit_resources(args.memory_bytes)
    sys.path[:0] = [str(args.pack), str(Path(__file__).resolve().parent)]
    channel = Channel(args.requests, args.responses)
    serve(channel, args.submission.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
