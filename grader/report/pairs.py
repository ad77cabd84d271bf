"""``pairs/<a>--<b>.html``: two similar submissions in full, side by side, the matches marked.

What a misconduct case needs: both files whole (not only fragments), each
stretch of code found in the other file marked, the fragments the report
lists numbered and linked to their partner in the other file, and the
skeleton's lines (which every student was given) told apart from the
students' own. Long lines wrap, so nothing is cut off.

A line counts as the skeleton's when its text, stripped of indentation, is a
non-blank line of the skeleton: a plain rule an instructor can check by eye.
The marked stretches are copydetect's matches after the skeleton and the
code found in many submissions were removed (:mod:`.similarity`).

The two files are the students' text: every character is escaped after the
terminal's cleaning (an invisible or direction-changing character shows as
an escape, which is itself evidence), and the page's policy loads nothing
and runs no script.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from .similarity import SimilarPair
from .templating import CSP, environment, percent


@dataclass
class Line:
    number: int
    segments: list[tuple[str, bool]]  # (text, shared with the other file)
    skeleton: bool
    starts: list[int] = field(default_factory=list)  # fragments starting on this line
    fragment: bool = False  # inside one of the numbered fragments


def skeleton_lines(skeleton: str) -> frozenset[str]:
    return frozenset(line.strip() for line in skeleton.splitlines() if line.strip())


def annotate(
    text: str,
    spans: list[tuple[int, int]],
    fragments: list[tuple[int, int]],
    skeleton: frozenset[str],
) -> list[Line]:
    """The lines of ``text`` cut where the shared ``spans`` (character offsets) begin and end.

    ``fragments`` are the numbered fragments' (first, last) lines, 1-based:
    fragment k starts at its first line, and its lines are marked as inside it.
    """
    starts = [start for start, _ in spans]
    lines = []
    offset = 0
    for number, raw in enumerate(text.splitlines(keepends=True), start=1):
        body = raw.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        begin, end = offset, offset + len(body)
        offset += len(raw)
        cuts: list[tuple[str, bool]] = []
        at = begin
        index = max(0, bisect.bisect_right(starts, begin) - 1)
        for span_start, span_end in spans[index:]:
            if span_start >= end:
                break
            if span_end <= at:
                continue
            if span_start > at:
                cuts.append((text[at:span_start], False))
            stop = min(span_end, end)
            cuts.append((text[max(at, span_start) : stop], True))
            at = stop
        if at < end:
            cuts.append((text[at:end], False))
        lines.append(Line(number, cuts, body.strip() in skeleton and bool(body.strip())))
    for k, (first, last) in enumerate(fragments, start=1):
        if 1 <= first <= len(lines):
            lines[first - 1].starts.append(k)
        for line in lines[max(first, 1) - 1 : min(last, len(lines))]:
            line.fragment = True
    return lines


def render_pair_page(
    pair: SimilarPair, text_a: str, text_b: str, skeleton: str, report_anchor: str
) -> str:
    """The page of ``pair``; ``report_anchor``: the pair's place in ``../report.html``."""
    known = skeleton_lines(skeleton)
    sides = [
        {
            "side": side,
            "student": student,
            "share": percent(share),
            "lines": annotate(text, spans, [getattr(f, key) for f in pair.fragments], known),
        }
        for side, student, share, text, spans, key in (
            ("a", pair.a, pair.a_share, text_a, pair.a_spans, "a_lines"),
            ("b", pair.b, pair.b_share, text_b, pair.b_spans, "b_lines"),
        )
    ]
    context: dict[str, Any] = {
        "policy": CSP,
        "pair": pair,
        "similarity": percent(pair.similarity),
        "sides": sides,
        "back": f"../report.html#{report_anchor}",
    }
    return str(environment().get_template("pair.html.j2").render(**context))
