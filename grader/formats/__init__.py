"""Output formats for a Feedback: a panel for people, JSON, Gradescope, PrairieLearn, JUnit.

The panel needs rich and JUnit junitparser; each is imported only when used,
so the other machine formats also work inside the sandbox image (which has
pydantic but neither of those).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from ..models import Feedback
from .gradescope import to_gradescope_json
from .json_format import to_json
from .prairielearn import to_prairielearn_json

if TYPE_CHECKING:
    from .panel import render_panel

FormatName = Literal["panel", "json", "gradescope", "prairielearn", "junit"]
FORMATS: tuple[FormatName, ...] = ("panel", "json", "gradescope", "prairielearn", "junit")


def render(feedback: Feedback, fmt: FormatName, *, color: bool = False) -> str:
    """The feedback as text in the named format."""
    if fmt == "json":
        return to_json(feedback)
    if fmt == "gradescope":
        return to_gradescope_json(feedback)
    if fmt == "prairielearn":
        return to_prairielearn_json(feedback)
    if fmt == "junit":
        from .junit import to_junit

        return to_junit(feedback)
    from .panel import render_panel

    return render_panel(feedback, color=color)


def __getattr__(name: str) -> Any:
    if name == "render_panel":
        from .panel import render_panel

        return render_panel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FORMATS",
    "FormatName",
    "render",
    "render_panel",
    "to_gradescope_json",
    "to_json",
    "to_prairielearn_json",
]
