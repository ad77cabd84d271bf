"""``report.html``: the class at a glance, one self-contained page an instructor opens offline.

Everything is inside the file: the charts are inline SVG, the style and the
few lines of sorting script are inline, and the page's Content Security
Policy forbids loading anything at all (``default-src 'none'``) and runs only
that one script (by its hash). Students' file names, ids, error messages and
source fragments are hostile text: Jinja escapes every value (autoescape),
and ``shown`` first makes invisible and direction-changing characters
visible (the same cleaning as the terminal's), so a name can neither add
markup nor disguise itself. The CSP is the second line: even markup that got
through could not run a script or fetch anything.

Each name links to the student's own page (``students/<id>.html``) and each
similar pair to its side-by-side page (``pairs/<a>--<b>.html``): relative
links, so the folder can be moved or zipped whole. The page names are made
here (:func:`student_page`, :func:`pair_pages`) and the files written by
:func:`grader.batch.write_class_files`.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import quote

from ..__about__ import __version__
from ..models import Feedback
from ..rubric import MAX_SCORE
from . import plots
from .similarity import SimilarityReport
from .templating import environment, percent, points, script_policy
from .triage import HELP_THRESHOLD, could_not_run, needs_help

MESSAGES_PER_CHECK = 5
PAIRS_SHOWN = 200
PAGE_NAME_MAX_BYTES = 200  # of a pair page's name, well inside a file name's 255
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass
class MessageCount:
    """Students whose failure of a check said this (numbers aside), with one real example."""

    text: str
    count: int
    variants: int


@dataclass
class CheckRow:
    id: str
    title: str
    rate: str
    failed: int
    could_not_run: int
    messages: list[MessageCount] = field(default_factory=list)


def student_page(student: str) -> str:
    """The student's page, relative to the class folder (ids are safe file names)."""
    return f"students/{student}.html"


def pair_pages(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Each pair's page, relative to the class folder: ``pairs/<a>--<b>.html``.

    Ids may hold ``--`` themselves, and two long ids would make too long a
    file name: a name that is taken or too long gets a digest of the pair.
    """
    names: dict[tuple[str, str], str] = {}
    taken: set[str] = set()
    for a, b in pairs:
        name = f"{a}--{b}"
        if len(name.encode("utf-8")) > PAGE_NAME_MAX_BYTES or name.casefold() in taken:
            digest = hashlib.sha256(f"{a}\0{b}".encode()).hexdigest()[:16]
            name = f"{_prefix(a, 40)}--{_prefix(b, 40)}~{digest}"
        taken.add(name.casefold())
        names[(a, b)] = f"pairs/{name}.html"
    return names


def _prefix(text: str, size: int) -> str:
    """At most ``size`` bytes of ``text`` in UTF-8, cut between characters."""
    return text.encode("utf-8")[:size].decode("utf-8", "ignore")


def href(path: str) -> str:
    """A relative link to one of the class folder's files (its name percent-encoded)."""
    return quote(path)


def failure_messages(results: Mapping[str, Feedback]) -> dict[str, list[MessageCount]]:
    """Per check, its failure messages grouped with the numbers in them set aside.

    A message like "row 3 moved by 0.12" differs from student to student only
    in its numbers; grouping on the rest counts what went wrong, and the
    example shown is the group's most frequent exact text. Each student
    counts once per group.
    """
    groups: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for feedback in results.values():
        if not feedback.gradable:
            continue
        for check in feedback.checks:
            seen: set[str] = set()
            for issue in check.issues:
                key = _NUMBER.sub("#", issue.message)
                if key not in seen:
                    seen.add(key)
                    groups[check.id][key][issue.message] += 1
    result = {}
    for check_id, by_key in groups.items():
        counted = [
            MessageCount(
                text=texts.most_common(1)[0][0], count=sum(texts.values()), variants=len(texts)
            )
            for texts in by_key.values()
        ]
        counted.sort(key=lambda m: (-m.count, m.text))
        result[check_id] = counted[:MESSAGES_PER_CHECK]
    return result


def _check_rows(summary: Mapping[str, Any], results: Mapping[str, Feedback]) -> list[CheckRow]:
    messages = failure_messages(results)
    gradable = [f for f in results.values() if f.gradable]
    rows = []
    for entry in summary["checks"]:
        failed = [f for f in gradable for c in f.checks if c.id == entry["id"] and not c.passed]
        rate = entry["pass_rate"]
        rows.append(
            CheckRow(
                id=entry["id"],
                title=entry["title"],
                rate="" if rate is None else percent(rate),
                failed=len(failed),
                could_not_run=sum(1 for f in failed if f.error is not None),
                messages=messages.get(entry["id"], []),
            )
        )
    return rows


def _student_rows(
    results: Mapping[str, Feedback], similarity: SimilarityReport | None, anchors: dict[Any, str]
) -> list[dict[str, Any]]:
    similar: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
    if similarity is not None:
        for pair in similarity.pairs:
            anchor = anchors.get((pair.a, pair.b), "similarity")
            similar[pair.a].append((pair.similarity, pair.b, anchor))
            similar[pair.b].append((pair.similarity, pair.a, anchor))
    rows = []
    for student in sorted(results):
        feedback = results[student]
        status: str = feedback.status if feedback.gradable else "not gradable"
        if feedback.error is not None and feedback.gradable:
            status = f"error: {feedback.error.kind}"
        matches = sorted(similar[student], reverse=True)
        failed = [c.id for c in feedback.checks if not c.passed]
        # A file that did not run fails every check for one reason: say the reason.
        reason = could_not_run(feedback) or (
            None if feedback.gradable else f"not graded: {feedback.summary}"
        )
        rows.append(
            {
                "id": student,
                "href": href(student_page(student)),
                "json": href(f"results/{student}.json"),
                "file": feedback.submission,
                "status": status,
                "status_class": "passed"
                if feedback.status == "passed"
                else ("failed" if feedback.error is None else "error"),
                "score": points(feedback.score),
                "score_sort": -1 if feedback.score is None else feedback.score,
                "failed": [] if reason else failed,
                "failed_count": len(failed),
                "reason": reason,
                "similar": [(percent(s), other, anchor) for s, other, anchor in matches],
                "similar_sort": matches[0][0] if matches else 0,
            }
        )
    return rows


def _other_versions(results: Mapping[str, Feedback], suite_hash: str) -> list[tuple[str, int]]:
    seen = Counter(
        (f.grader_version, f.suite_hash)
        for f in results.values()
        if f.gradable
        and f.suite_hash
        and (f.suite_hash, f.grader_version) != (suite_hash, __version__)
    )
    return [(f"grader {v or '?'}, suite {h}", n) for (v, h), n in sorted(seen.items())]


def shown_pairs(similarity: SimilarityReport | None) -> list[tuple[str, str]]:
    """The pairs the report lists (and so gets a page each): the most similar first."""
    if similarity is None:
        return []
    return [(p.a, p.b) for p in similarity.pairs[:PAIRS_SHOWN]]


def _help_view(results: Mapping[str, Feedback], threshold: float) -> dict[str, Any]:
    view = needs_help(results, threshold)
    return {
        "threshold": points(threshold),
        "count": len(view.students),
        "groups": [
            {
                "title": group.title,
                "key": group.key,
                "kind": group.kind,
                "students": [
                    {
                        "id": student,
                        "href": href(student_page(student)),
                        "score": points(results[student].score),
                        "reason": results[student].summary if group.kind == "error" else "",
                    }
                    for student in group.students
                ],
            }
            for group in view.groups
        ],
        "not_gradable": [(s, href(student_page(s))) for s in view.not_gradable],
    }


def render_report(
    results: Mapping[str, Feedback],
    summary: Mapping[str, Any],
    similarity: SimilarityReport | None = None,
    *,
    suite_hash: str = "",
    help_threshold: float = HELP_THRESHOLD,
) -> str:
    """The page for ``results`` (student id -> feedback) and their ``summary``.

    ``summary`` is :func:`grader.batch.class_summary`'s output (checks hardest
    first); ``similarity`` adds the pairs section; students below
    ``help_threshold`` points are grouped in the "who needs help" section.
    """
    gradable = [f for f in results.values() if f.gradable]
    scores = [f.score for f in gradable if f.score is not None]
    errors = Counter(f.error.kind for f in gradable if f.error is not None)
    pairs = similarity.pairs[:PAIRS_SHOWN] if similarity is not None else []
    anchors = {(p.a, p.b): f"pair-{i + 1}" for i, p in enumerate(pairs)}
    pages = pair_pages(shown_pairs(similarity))
    checks = _check_rows(summary, results)
    script = resources.files("grader.report").joinpath("templates/report.js").read_text("utf-8")
    import markupsafe

    context = {
        "version": __version__,
        "suite_hash": suite_hash or "unknown",
        "built": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "other_versions": _other_versions(results, suite_hash),
        "max_score": f"{MAX_SCORE:g}",
        "totals": {
            "submissions": len(results),
            "passed": sum(1 for f in gradable if f.status == "passed"),
            "mean": f"{statistics.fmean(scores):.1f}" if scores else "–",
            "median": f"{statistics.median(scores):g}" if scores else "–",
            "errors": sum(errors.values()),
            "not_gradable": len(results) - len(gradable),
        },
        "error_kinds": sorted(errors.items()),
        "histogram": markupsafe.Markup(
            plots.score_histogram(scores, MAX_SCORE, f"Scores of {len(scores)} submissions")
        ),
        "pass_chart": markupsafe.Markup(
            plots.pass_rates(
                [(c.id, _rate(summary, c.id)) for c in checks],
                "Pass rate per check, hardest first",
            )
        ),
        "checks": checks,
        "help": _help_view(results, help_threshold),
        "students": _student_rows(results, similarity, anchors),
        "similarity": similarity,
        "threshold": percent(similarity.threshold) if similarity is not None else "",
        "pairs": [
            {**p.model_dump(), "anchor": anchors[(p.a, p.b)], "page": href(pages[(p.a, p.b)])}
            for p in pairs
        ],
        "more_pairs": len(similarity.pairs) - len(pairs) if similarity is not None else 0,
        "script": markupsafe.Markup(script),
        "policy": script_policy(script),
    }
    return str(environment().get_template("report.html.j2").render(**context))


def _rate(summary: Mapping[str, Any], check_id: str) -> float:
    for entry in summary["checks"]:
        if entry["id"] == check_id:
            return float(entry["pass_rate"] or 0.0)
    return 0.0
