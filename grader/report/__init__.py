"""The class report (``report.html``) and the similarity between submissions.

``html`` renders the page, ``plots`` draws its charts (matplotlib, inline SVG),
``similarity`` finds pairs of submissions that share much code.
"""

from __future__ import annotations

from .html import render_report
from .similarity import SimilarityReport, SimilaritySettings, compare_submissions

__all__ = ["SimilarityReport", "SimilaritySettings", "compare_submissions", "render_report"]
