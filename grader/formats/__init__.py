"""Output formats for a Feedback: a panel for people, JSON and Gradescope for machines."""

from __future__ import annotations

from typing import Literal

from ..models import Feedback
from .gradescope import to_gradescope_json
from .json_format import to_json
from .panel import render_panel

FormatName = Literal["panel", "json", "gradescope"]
FORMATS: tuple[FormatName, ...] = ("panel", "json", "gradescope")


def render(feedback: Feedback, fmt: FormatName, *, color: bool = False) -> str:
    """The feedback as text in the named format."""
    if fmt == "json":
        return to_json(feedback)
    if fmt == "gradescope":
        return to_gradescope_json(feedback)
    return render_panel(feedback, color=color)


__all__ = ["FORMATS", "FormatName", "render", "render_panel", "to_gradescope_json", "to_json"]
