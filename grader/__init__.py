"""minigpt-grader: grade a student's minigpt.py against hidden suites in a sandbox.

Public API (imported lazily, so the judge inside the sandbox needs neither
click nor docker)::

    from grader import grade, GradeSettings, Feedback
    feedback = grade(Path("minigpt.py"), GradeSettings(sandbox="process"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .__about__ import __version__

if TYPE_CHECKING:
    from .api import grade
    from .errors import GraderError
    from .models import Feedback
    from .settings import GradeSettings, Limits

__all__ = ["Feedback", "GradeSettings", "GraderError", "Limits", "__version__", "grade"]

_EXPORTS = {
    "grade": "api",
    "GraderError": "errors",
    "Feedback": "models",
    "GradeSettings": "settings",
    "Limits": "settings",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
