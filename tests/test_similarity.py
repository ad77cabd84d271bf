"""Similarity between submissions: copies are found however disguised, honest work is not."""

from __future__ import annotations

import ast
import itertools
import os
from pathlib import Path

import pytest
from disguise import disguise, vary
from support import REFERENCE, SKELETON, SOLUTIONS

from grader.report.similarity import (
    SimilarityReport,
    SimilaritySettings,
    compare_submissions,
    find_similar,
)

SKELETON_TEXT = SKELETON.read_text(encoding="utf-8")
# correct_lesson_loss.py says so itself: it is correct_relu_reordered.py with another loss.
DERIVED = frozenset({"correct_lesson_loss", "correct_relu_reordered"})


def bank() -> dict[str, str]:
    files = [REFERENCE, *sorted(SOLUTIONS.glob("correct_*.py"))]
    return {
        ("reference" if p == REFERENCE else p.stem): p.read_text(encoding="utf-8") for p in files
    }


def flagged(report: SimilarityReport) -> set[frozenset[str]]:
    return {frozenset({p.a, p.b}) for p in report.pairs}


def definition_order(source: str) -> list[str]:
    tree = ast.parse(source)
    names = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.append(node.name)
            names += [f"{node.name}.{n.name}" for n in node.body if isinstance(n, ast.FunctionDef)]
        elif isinstance(node, ast.FunctionDef):
            names.append(node.name)
    return names


def local_names(source: str) -> set[str]:
    return {
        n.id
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def test_disguise_renames_and_reorders_but_keeps_the_api() -> None:
    original = (SOLUTIONS / "correct_gpt2_init.py").read_text(encoding="utf-8")
    copy = disguise(original, seed=3)
    kept = {"Embedding", "MiniGPT", "generate", "cross_entropy_loss", "MiniGPT.forward"}
    assert kept <= set(definition_order(copy)), "the API names survive"
    assert definition_order(copy) != definition_order(original), "definitions are reordered"
    renamed = local_names(original) - local_names(copy)
    assert len(renamed) >= 0.8 * len(local_names(original) - {"__all__", "__version__"})
    assert "#" not in copy, "comments are gone"
    padded = vary(original, seed=1)
    assert len(ast.parse(padded).body) == len(ast.parse(original).body)
    assert padded.count("_unused_") >= 10


@pytest.mark.parametrize(
    "name", ["reference", "correct_gpt2_init", "correct_naive", "correct_tanh_tied"]
)
def test_a_disguised_copy_is_found(name: str) -> None:
    """Renamed variables, reordered methods, no comments, new layout: still flagged."""
    sources = bank()
    original = sources[name]
    sources["copier"] = disguise(original, seed=11)
    report = find_similar(sources, SKELETON_TEXT, SimilaritySettings())
    pairs = {frozenset({p.a, p.b}): p for p in report.pairs}
    pair = pairs.get(frozenset({name, "copier"}))
    assert pair is not None, f"the copy of {name} was not flagged"
    assert min(pair.a_share, pair.b_share) >= report.threshold, "found from either side"
    assert flagged(report) - {frozenset({name, "copier"})} <= {DERIVED}
    assert pair.fragments, "the shared code is shown"
    texts = {pair.a: sources[pair.a], pair.b: sources[pair.b]}
    for fragment in pair.fragments:
        a_lines = texts[pair.a].splitlines()[fragment.a_lines[0] - 1 : fragment.a_lines[1]]
        assert fragment.a_text.startswith("\n".join(a_lines)[:200])
        assert 1 <= fragment.b_lines[0] <= fragment.b_lines[1] <= len(texts[pair.b].splitlines())


def test_independent_correct_solutions_are_not_flagged() -> None:
    """Every pair of the bank's independently written solutions stays under the threshold;
    the one file the bank says was derived from another is flagged."""
    sources = bank()
    report = find_similar(sources, SKELETON_TEXT, SimilaritySettings())
    n = len(sources)
    assert n >= 20 and report.submissions == n and report.pairs_compared == n * (n - 1) // 2
    assert flagged(report) == {DERIVED}


def test_the_skeleton_is_not_similarity() -> None:
    """Two students who hand in the skeleton share only what everyone was given."""
    sources = {"ada": SKELETON_TEXT, "bo": SKELETON_TEXT + "\n# done\n"}
    report = find_similar(sources, SKELETON_TEXT, SimilaritySettings())
    assert report.pairs == []
    without_skeleton = find_similar(sources, "", SimilaritySettings())
    assert flagged(without_skeleton) == {frozenset({"ada", "bo"})}


def test_code_in_many_submissions_is_ignored() -> None:
    """A helper the whole class pasted (from a forum, say) is not evidence against a pair."""
    helper = disguise((SOLUTIONS / "correct_naive.py").read_text(encoding="utf-8"), seed=5)
    sources = {name: text + "\n" + helper for name, text in bank().items()}
    settings = SimilaritySettings(threshold=0.0)
    everyone = len(sources)
    counted = find_similar(
        sources, SKELETON_TEXT, settings.model_copy(update={"common_files": everyone + 1})
    )
    ignored = find_similar(sources, SKELETON_TEXT, settings.model_copy(update={"common_files": 10}))

    def most_similar(report: SimilarityReport) -> float:
        return max(p.similarity for p in report.pairs if frozenset({p.a, p.b}) != DERIVED)

    assert most_similar(counted) > 0.6, "in every file, kept when the limit is one more file"
    alone = find_similar(bank(), SKELETON_TEXT, settings)
    assert most_similar(ignored) < SimilaritySettings().threshold, "and dropped when it is 10"
    assert most_similar(ignored) <= most_similar(alone) + 0.05, "as if it were not there"


def test_sources_are_only_read(tmp_path: Path) -> None:
    """Hostile files: code that would act if run, links, binary, oversize, empty."""
    marker = tmp_path / "ran"
    evil = f"import os\nos.system('touch {marker}')\nopen({str(marker)!r}, 'w')\n"
    (tmp_path / "evil.py").write_text(evil * 5)
    (tmp_path / "twin.py").write_text(evil * 5)
    (tmp_path / "binary.py").write_bytes(b"\xff\xfe\x00 not text")
    (tmp_path / "huge.py").write_text("x = 1\n" * 1000)
    (tmp_path / "empty.py").write_text("  \n")
    os.symlink(REFERENCE, tmp_path / "link.py")
    files = [(p.stem, p) for p in sorted(tmp_path.glob("*.py"))]
    report = compare_submissions(files, SimilaritySettings(max_source_bytes=2000))
    assert not marker.exists(), "nothing in a submission is executed"
    assert set(report.not_compared) == {"binary", "huge", "empty", "link"}
    assert "symbolic link" in report.not_compared["link"]
    assert "not UTF-8" in report.not_compared["binary"]
    assert report.submissions == 2 and flagged(report) == {frozenset({"evil", "twin"})}


def test_the_shared_stretches_are_where_the_shared_code_is() -> None:
    """a_spans/b_spans (what the side-by-side page marks): in order, disjoint, inside the
    file, covering the fragments, and not the skeleton's own code."""
    original = (SOLUTIONS / "correct_gpt2_init.py").read_text(encoding="utf-8")
    copy = disguise(original, seed=2)
    report = find_similar({"ada": original, "bo": copy}, SKELETON_TEXT, SimilaritySettings())
    (pair,) = report.pairs
    for spans, text in ((pair.a_spans, original), (pair.b_spans, copy)):
        assert spans and all(0 <= s < e <= len(text) for s, e in spans)
        assert all(e1 < s2 for (_, e1), (s2, _) in itertools.pairwise(spans))
        marked = sum(e - s for s, e in spans)
        assert marked > 0.5 * len(text.strip()), "most of a disguised copy is marked"
    starts = [0]
    for line in original.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    for fragment in pair.fragments:
        first, last = fragment.a_lines
        inside = [(s, e) for s, e in pair.a_spans if s < starts[last] and e > starts[first - 1]]
        assert inside, "every fragment lies on marked code"
    both_skeleton = find_similar(
        {"ada": SKELETON_TEXT + "\nx = 1\n", "bo": SKELETON_TEXT + "\ny = 2\n"},
        "",
        SimilaritySettings(threshold=0.0),
    )
    assert both_skeleton.pairs[0].a_spans, "without the skeleton removed, it is marked"
    # Lines that differ after tokenising: "x = 1" and "y = 2" would both read "V = 1", and a
    # k-gram across the skeleton's end would then be shared (picked or not by the hash seed).
    removed = find_similar(
        {"ada": SKELETON_TEXT + "\nx = 1\n", "bo": SKELETON_TEXT + "\nprint([y for y in 'ab'])\n"},
        SKELETON_TEXT,
        SimilaritySettings(threshold=0.0),
    )
    assert all(not p.a_spans for p in removed.pairs), "with it removed, nothing is"
