"""The pytest plugin that connects the hidden suite to the judge.

It hands the tests their two subjects (``student`` and ``reference``) and
records, through pytest-json-report's metadata hook, which rubric check each
test belongs to and why it failed.
"""

from __future__ import annotations

from typing import Any

import pytest

from .failures import CheckFailure, StudentError
from .subjects import Subject

SUBJECTS = pytest.StashKey[dict[str, Subject]]()


class JudgePlugin:
    """Registered by the runner; never loaded by the student's process."""

    def __init__(self, student: Subject, reference: Subject) -> None:
        self._subjects = {"student": student, "reference": reference}

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "check(id): the rubric check this test counts for")
        config.stash[SUBJECTS] = self._subjects

    def pytest_json_runtest_metadata(
        self, item: pytest.Item, call: pytest.CallInfo[Any]
    ) -> dict[str, Any]:
        marker = item.get_closest_marker("check")
        doc = getattr(getattr(item, "function", None), "__doc__", None) or item.name
        meta: dict[str, Any] = {
            "check": marker.args[0] if marker and marker.args else None,
            "title": doc.strip().splitlines()[0],
        }
        if call.excinfo is None:
            return meta
        exc = call.excinfo.value
        if isinstance(exc, CheckFailure):
            meta["failure"] = {
                "kind": "check",
                "message": exc.message,
                "hint": exc.hint,
                "line": exc.line,
            }
        elif isinstance(exc, StudentError):
            meta["failure"] = {
                "kind": exc.kind,
                "message": str(exc),
                "hint": None,
                "line": exc.line,
            }
        elif not isinstance(exc, pytest.skip.Exception):
            meta["internal"] = f"{type(exc).__name__}: {exc}"[:500]
        return meta
