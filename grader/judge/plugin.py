"""The pytest plugin that connects the hidden suite to the judge.

It hands the tests the ``student`` (the submission, through the worker) and
records, through pytest-json-report's metadata hook, which rubric check each
test belongs to and why it failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .failures import CheckFailure, StudentError
from .remote import Student

STUDENT = pytest.StashKey[Student]()


class JudgePlugin:
    """Registered by the runner; never loaded by the student's process."""

    def __init__(self, begin: Callable[[], Student | None]) -> None:
        self._begin = begin
        self._student: Student | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "check(id): the rubric check this test counts for")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """Once the suite is collected, get the submission; without one, run no test
        (the runner reports why)."""
        student = self._begin()
        if student is None:
            return True
        self._student = student
        session.config.stash[STUDENT] = student
        return None  # pytest's own loop runs the tests

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool:
        """Run the test; after a timeout or a foreign kill, once more on a fresh worker.

        The same bytes must get the same verdict: one slow moment of a busy
        machine, or a worker killed from outside, is not the student's fault.
        """
        names = pyfuncitem._fixtureinfo.argnames
        args = {name: pyfuncitem.funcargs[name] for name in names}
        student = self._student
        assert student is not None, "tests run only after begin gave a student"
        try:
            pyfuncitem.obj(**args)
        except StudentError as exc:
            if not student.may_retry(exc):
                raise
            student.client.close()
            try:
                pyfuncitem.obj(**args)
            except StudentError as again:
                student.confirm(again)
                raise
        return True

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
