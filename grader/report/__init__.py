"""The class report (``report.html``), its pages and the similarity between submissions.

``html`` renders the report, ``student`` and ``pairs`` the students' and the similar
pairs' own pages, ``pages`` writes them all, ``triage`` says who needs help,
``plots`` draws the charts (matplotlib, inline SVG), ``similarity`` finds pairs of
submissions that share much code.

The public names are imported when first used, so that a light module of the
package (``triage``, which the CLI reads its default from) comes without numpy,
matplotlib and jinja2.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SimilarityReport": "similarity",
    "SimilaritySettings": "similarity",
    "compare_submissions": "similarity",
    "render_report": "html",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
