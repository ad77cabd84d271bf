"""The class report's charts: matplotlib figures as inline SVG (Agg, no display needed).

Text in the SVG stays text (``svg.fonttype: none``): the page is smaller and
the browser draws it with its own fonts. Every label comes from the rubric or
from numbers, never from a student.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

_STYLE: dict[Any, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "minigpt-grader",  # the same data gives the same SVG
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
BAR = "#3b6ea8"
FAIL = "#c2453b"


def use_agg() -> None:
    """Select the non-interactive backend before pyplot is imported anywhere."""
    import matplotlib

    matplotlib.use("Agg")


def _svg(figure: Any) -> str:
    """The figure as an ``<svg>`` element (no XML prolog, no doctype) to put in a page."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return re.sub(r"\A.*?(?=<svg\b)", "", text, flags=re.DOTALL)


def score_histogram(scores: Sequence[float], max_score: float, title: str) -> str:
    """Scores of the gradable submissions in ten bins from 0 to ``max_score``."""
    use_agg()
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(5.2, 3.0))
        edges = [max_score * i / 10 for i in range(11)]
        axes.hist(list(scores), bins=edges, color=BAR, edgecolor="white")
        axes.set_xlim(0, max_score)
        axes.set_xticks(edges)
        axes.set_xlabel("score")
        axes.set_ylabel("submissions")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of students
        axes.set_title(title, loc="left")
        return _svg(figure)


def pass_rates(checks: Sequence[tuple[str, float]], title: str) -> str:
    """One horizontal bar per check (label, pass rate in 0..1), in the order given."""
    use_agg()
    import matplotlib.pyplot as plt

    with plt.rc_context(_STYLE):
        height = 0.8 + 0.26 * max(len(checks), 1)
        figure, axes = plt.subplots(figsize=(5.2, height))
        labels = [label for label, _ in checks]
        rates = [100 * rate for _, rate in checks]
        positions = list(range(len(checks)))
        axes.barh(positions, [100] * len(checks), color="#e9e9e9")
        axes.barh(positions, rates, color=[FAIL if r < 50 else BAR for r in rates])
        for y, rate in zip(positions, rates, strict=True):
            axes.text(101, y, f"{rate:.0f}%", va="center", fontsize=8, clip_on=False)
        axes.set_yticks(positions, labels)
        axes.invert_yaxis()  # the first (hardest) check on top
        axes.set_xlim(0, 100)
        axes.set_xlabel("% of gradable submissions passing")
        axes.set_title(title, loc="left")
        return _svg(figure)
