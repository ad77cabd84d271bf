"""Writing the class folder's pages: the report, one page per student, one per similar pair.

Pages are rewritten at the end of every batch run; one whose text did not
change is left as it is (a class of hundreds rewrites only what moved), and
the pages of pairs the report no longer lists are removed, so the folder
never shows a pair the latest comparison did not find.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..models import Feedback
from ..util import write_atomic
from .html import pair_pages, render_report, shown_pairs, student_page
from .pairs import render_pair_page
from .similarity import SimilarityReport, skeleton_text
from .student import render_student_page
from .triage import needs_help

__all__ = [
    "needs_help_json",
    "render_report",
    "write_pair_pages",
    "write_student_pages",
]


def _write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    write_atomic(path, text)


def write_student_pages(
    out: Path, results: Mapping[str, Feedback], sources: Mapping[str, str]
) -> None:
    """``students/<id>.html`` for every result; ``sources``: the files' text, to quote lines."""
    for student, feedback in results.items():
        page = render_student_page(student, feedback, sources.get(student))
        _write_if_changed(out / student_page(student), page)


def write_pair_pages(
    out: Path, similarity: SimilarityReport | None, sources: Mapping[str, str]
) -> None:
    """A page per pair the report lists; pages of earlier runs' pairs are removed."""
    names = pair_pages(shown_pairs(similarity))
    folder = out / "pairs"
    if similarity is not None:
        skeleton = skeleton_text()
        for number, pair in enumerate(similarity.pairs[: len(names)], start=1):
            if pair.a in sources and pair.b in sources:
                page = render_pair_page(
                    pair, sources[pair.a], sources[pair.b], skeleton, f"pair-{number}"
                )
                _write_if_changed(out / names[(pair.a, pair.b)], page)
    if folder.is_dir():
        kept = {(out / name).name for name in names.values()}
        for stale in folder.glob("*.html"):
            if stale.name not in kept and not stale.is_symlink():
                stale.unlink()


def needs_help_json(results: Mapping[str, Feedback], threshold: float) -> dict[str, Any]:
    """The "who needs help" groups as summary.json records them."""
    return needs_help(results, threshold).to_json()
