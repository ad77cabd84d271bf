"""The two things a hidden test can probe: the student's code and the reference.

Both answer ``run(probe, **args)`` with the same plain data, so a test
compares them without knowing where each ran. The student's answers come from
the worker process; the reference runs here, in the judge, where the
student's code cannot reach it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from .failures import StudentError
from .worker_client import WorkerClient


class Subject(Protocol):
    def run(self, probe: str, budget: float = 1.0, **args: Any) -> Any: ...


class StudentSubject:
    """Probes the submission through the worker; ``budget`` scales the deadline.

    Probes are seeded, so an identical request gets an identical answer: it is
    asked once, and a failure (a timeout, say) is not paid for twice.
    """

    def __init__(self, client: WorkerClient, call_timeout: float) -> None:
        self.client = client
        self.call_timeout = call_timeout
        self._cache: dict[str, Any] = {}

    def run(self, probe: str, budget: float = 1.0, **args: Any) -> Any:
        key = json.dumps([probe, args], sort_keys=True)
        if key not in self._cache:
            try:
                self._cache[key] = self.client.call(
                    probe, timeout=self.call_timeout * budget, **args
                )
            except StudentError as exc:
                self._cache[key] = exc
        answer = self._cache[key]
        if isinstance(answer, StudentError):
            raise StudentError(answer.record)
        return answer


class ReferenceSubject:
    """Probes the reference solution in-process, caching identical requests."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self._cache: dict[str, Any] = {}

    def run(self, probe: str, budget: float = 1.0, **args: Any) -> Any:
        from grader.worker import probes

        key = json.dumps([probe, args], sort_keys=True)
        if key not in self._cache:
            self._cache[key] = probes.PROBES[probe](self.module, **args)
        return self._cache[key]


def load_reference(path: Path, pack_dir: Path) -> ModuleType:
    """Import the reference as ``minigpt_reference`` with the pack importable."""
    if str(pack_dir) not in sys.path:
        sys.path.insert(0, str(pack_dir))
    spec = importlib.util.spec_from_file_location("minigpt_reference", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the reference at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
