"""The kit's public tests and check.py agree with the grader.

- Every public test declares the rubric checks it covers, fails only through
  expect() (words, never bare numbers), and every check has one.
- check.py prints the panel in words (no traceback), each message once, the
  map of checks, ASCII where needed; it stops in words on a broken minigpt.py.
- ``slow``: every correct solution of the bank (and the reference) passes every
  public test, judged; every public test that fails a bug of the bank covers
  the check the bug is filed under; most bugs fail some public test.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kit_support
import pytest
from engine import Value
from kit_support import TEMPLATE, copy_pack, import_check, import_helpers, public_results, run_check
from nn import Linear, Module
from support import REFERENCE

from grader.rubric import CHECKS
from grader.selftest import Case, cases

RUBRIC_IDS = [c.id for c in CHECKS]
CASES = cases()  # the bank, as grade selftest builds it
CORRECT = [c for c in CASES if c.must_fail is None]
BUGS = [c for c in CASES if c.must_fail is not None]
CATCH_TARGET = 0.7


# --------------------------------------------------------------------------
# The public tests: what they declare


def public_test_functions() -> dict[str, ast.FunctionDef]:
    found = {}
    for path in sorted((TEMPLATE / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                assert node.name not in found, f"two public tests named {node.name}"
                found[node.name] = node
    return found


def covered(node: ast.FunctionDef) -> list[str]:
    ids = []
    for decorator in node.decorator_list:
        if (
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "covers"
        ):
            ids += [ast.literal_eval(arg) for arg in decorator.args]
    return ids


def test_every_public_test_covers_rubric_checks_and_every_check_is_covered() -> None:
    tests = public_test_functions()
    seen: set[str] = set()
    for name, node in tests.items():
        ids = covered(node)
        assert ids, f"{name} has no @pytest.mark.covers(...)"
        assert set(ids) <= set(RUBRIC_IDS), (
            f"{name}: unknown check ids {set(ids) - set(RUBRIC_IDS)}"
        )
        seen |= set(ids)
    assert seen == set(RUBRIC_IDS), f"checks without a public test: {set(RUBRIC_IDS) - seen}"


def test_public_tests_fail_only_through_expect() -> None:
    """No bare assert (it would print numbers or tuples): every failure goes through expect()."""
    for path in [*(TEMPLATE / "tests").glob("*.py"), TEMPLATE / "check.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        asserts = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert)]
        assert not asserts, f"{path.name}: assert on lines {asserts}"
    helpers = (TEMPLATE / "tests" / "helpers.py").read_text(encoding="utf-8")
    for path in (TEMPLATE / "tests").glob("test_*.py"):
        text = path.read_text(encoding="utf-8")
        assert "from helpers import" in text and "expect," in text, path.name
        assert "pytest.fail(" not in text, path.name
    assert helpers.count("pytest.fail(") == 1  # in expect()


# --------------------------------------------------------------------------
# The public tests' helpers (tests/helpers.py)


@pytest.fixture(scope="module")
def helpers() -> Any:
    return import_helpers()


def test_describe_says_shapes_in_words(helpers: Any) -> None:
    describe = helpers.describe
    assert describe([[Value(1.0)] * 3] * 2) == "a list of 2 lists of 3 Values"
    assert (
        describe(([Value(1.0)], Value(2.0))) == "a tuple of 2 items of different kinds or lengths"
    )
    assert describe([]) == "an empty list"
    assert describe([1.5, 2.5]) == "a list of 2 floats"
    assert describe(None) == "None"
    assert describe({"a": 1}) == "an object of type dict"
    assert describe([[Value(0.0)], [Value(0.0), Value(1.0)]]).endswith("different kinds or lengths")


def test_expect_fails_with_three_sentences(helpers: Any) -> None:
    helpers.expect(True, "never", "shown", "anywhere")
    with pytest.raises(pytest.fail.Exception) as info:
        helpers.expect(False, "it was 2", "it to be 3", "the sign")
    assert str(info.value) == "Observed: it was 2\nExpected: it to be 3\nWhat to check: the sign"
    assert info.value.pytrace is False


def test_after_and_requires_stop_a_test_not_judged(helpers: Any) -> None:
    helpers.RESULTS.clear()
    helpers.RESULTS.update({"test_a": "", "test_b": "test_b[1]"})
    helpers.after("test_a", "test_not_run")  # passed or not run: the test goes on
    with pytest.raises(helpers.NotJudged, match=r"^test_b\[1\]$"):
        helpers.after("test_a", "test_b")
    helpers.requires(True, "test_c")
    with pytest.raises(helpers.NotJudged, match=r"^test_c$"):
        helpers.requires(False, "test_c")
    helpers.RESULTS.clear()


def test_answering_records_contexts_and_restores_the_class(helpers: Any) -> None:
    class Tiny(Module):
        def __init__(self) -> None:
            self.max_seq_len = 3
            self.lin = Linear(1, 2)

        def forward(self, ids: list[int]) -> list[list[Value]]:
            return [self.lin([Value(float(i))]) for i in ids]

    model = Tiny()
    with helpers.answering(model, [1.0, 2.0], [3.0, 4.0]) as calls:
        out = model([0, 1, 1])
        again = model.forward([2])
    assert [[v.data for v in row] for row in out] == [[3.0, 4.0], [3.0, 4.0], [1.0, 2.0]]
    assert [[v.data for v in row] for row in again] == [[1.0, 2.0]]
    assert calls.contexts == [[0, 1, 1], [2]]
    assert type(model) is Tiny and isinstance(model, Module)
    assert len(model([5])[0]) == 2 and model.max_seq_len == 3


def test_parts_and_held_values_are_found_by_class_not_name(helpers: Any) -> None:
    class Inner(Module):
        __slots__ = ("w",)

        def __init__(self) -> None:
            self.w = [Value(1.0), Value(2.0)]

    class Outer(Module):
        def __init__(self) -> None:
            shared = Inner()
            self.stack = {"a": [shared, Inner()], "b": (shared,)}
            self.eps = Value(1e-5)  # a single Value attribute: a constant

    outer = Outer()
    inners = helpers.parts_of(outer, Inner)
    assert len(inners) == 2
    held = helpers.held_values(outer)
    assert len(held) == 4 and all(v is not outer.eps for v in held)
    assert helpers.parts_of(outer, Inner, stop=Inner) == inners


def test_chi_square_and_softmax(helpers: Any) -> None:
    probs = helpers.softmax([0.0, 0.0, 2.0, -1.0, 1.0], temperature=2.0)
    assert abs(sum(probs) - 1.0) < 1e-12 and probs[2] == max(probs)
    samples = [i for i, p in enumerate(probs) for _ in range(round(p * 1000))]
    assert helpers.chi_square(samples, probs) < 1.0
    assert helpers.chi_square([0] * 500, probs) > helpers.CHI2_LIMIT_DF4
    assert helpers.chi_square([1], [1.0, 0.0]) == float("inf")


# --------------------------------------------------------------------------
# check.py's panel


@pytest.fixture(scope="module")
def check() -> Any:
    return import_check()


def summary_of(check: Any, tests: list[dict[str, Any]]) -> dict[str, Any]:
    collector = check.Collector()
    collector.tests = {t["name"]: {"file": "tests/t.py", "not_judged": "", **t} for t in tests}
    return check.summarise(collector, check.load_map())


def test_panel_lists_failing_checks_first_and_each_message_once(check: Any) -> None:
    message = "Observed: row 0 moved\nExpected: no change\nWhat to check: the mask"
    summary = summary_of(
        check,
        [
            {
                "name": "test_mask",
                "covers": ["causal_mask"],
                "outcome": "failed",
                "message": message,
            },
            {
                "name": "test_both",
                "covers": ["causal_mask", "attention"],
                "outcome": "failed",
                "message": message,
            },
            {
                "name": "test_mask[5]",
                "covers": ["causal_mask"],
                "outcome": "failed",
                "message": "Observed: row 1 moved",
            },
            {"name": "test_shape", "covers": ["shapes"], "outcome": "passed", "message": ""},
            {"name": "test_pos", "covers": ["positional"], "outcome": "passed", "message": ""},
            {
                "name": "test_later",
                "covers": ["positional"],
                "outcome": "passed",
                "message": "",
                "not_judged": "not judged until test_mask passes",
            },
        ],
    )
    text = check.render(summary, "utf-8", 88)
    lines = text.splitlines()
    assert lines[0].startswith("╭─ minigpt.py: public tests ") and lines[-1].startswith("╰")
    assert all(len(line) == 88 for line in lines), [len(line) for line in lines]
    assert "3 of 6 public tests fail." in text
    assert text.index("✗ Attention weights") < text.index("✗ Causal mask") < text.index("✓ Every")
    assert text.count("Observed: row 0 moved") == 1
    assert "✗ test_both: see above" in text
    assert "✗ test_mask: the same message as test_both, above" in text
    assert "· test_later: not judged until test_mask passes" in text
    assert "✗ test_mask[5]: fails too (the same test, with other inputs)" in text
    assert "Observed: row 1 moved" not in text
    assert "passing: test_pos" in text and "public tests: test_pos" not in text
    assert "· Positions are embedded" in text
    for c in CHECKS:  # the whole map, every check with its points and grader-only sentence
        assert c.title in text
    assert "only the grader: whether" in text and "no public test" in text
    assert "Traceback" not in text


def test_panel_in_ascii_when_the_terminal_needs_it(check: Any) -> None:
    summary = summary_of(
        check, [{"name": "test_x", "covers": ["shapes"], "outcome": "failed", "message": "bad"}]
    )
    text = check.render(summary, "ascii", 60)
    text.encode("ascii")
    assert text.startswith("+- minigpt.py: public tests ") and "X Every component" in text
    assert max(len(line) for line in text.splitlines()) == 60


def test_panel_when_all_pass_points_to_how_to_submit(check: Any) -> None:
    summary = summary_of(
        check, [{"name": "test_x", "covers": ["shapes"], "outcome": "passed", "message": ""}]
    )
    text = " ".join(check.render(summary, "utf-8", 88).replace("│", " ").split())
    assert "All 1 public tests pass." in text and "'How to submit'" in text
    assert "The public tests of 1 of the grader's 18 checks pass (4 of 100 points)" in text


# --------------------------------------------------------------------------
# check.py on real packs


def test_check_on_the_skeleton_says_what_is_missing(tmp_path: Path) -> None:
    proc = run_check(copy_pack(tmp_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and proc.stderr == ""
    assert "is not implemented yet" in proc.stdout
    result = public_results(copy_pack(tmp_path / "again"))
    assert result["failed"] == len(result["tests"]) > 0 and result["passed"] == 0
    for test in result["tests"]:
        assert re.match(r"^\w+(\.\w+)? is not implemented yet", test["message"]), test


def test_check_on_the_reference_passes_everything(tmp_path: Path) -> None:
    proc = run_check(copy_pack(tmp_path, REFERENCE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"All \d+ public tests pass\.", proc.stdout)


BROKEN = {
    "syntax error": ("def broken(:\n", "minigpt.py has a syntax error on line 1"),
    "missing class": ("from engine import Value\n", "minigpt.py does not define Embedding"),
    "import error": (
        "import not_a_module_of_the_pack\n",
        "minigpt.py cannot be imported: No module named 'not_a_module_of_the_pack'",
    ),
    "error at import": ("x = 1 / 0\n", "importing minigpt.py failed: your code raised Zero"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_check_stops_in_words_when_minigpt_cannot_be_imported(tmp_path: Path, case: str) -> None:
    source, message = BROKEN[case]
    proc = run_check(copy_pack(tmp_path, source=source))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    said = " ".join(proc.stdout.replace("│", " ").split())
    assert message in said and "Traceback" not in said
    assert "Fix this, then run check.py again." in said and "only the grader" not in said


def test_check_without_pytest_says_how_to_install_it(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "check.py"],  # -S: no site-packages, so no pytest
        cwd=copy_pack(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("pytest is not installed for this Python"), proc.stderr
    assert "README.md, 'Setting up'" in proc.stderr


def mutant(mutation_id: str) -> str:
    (found,) = [c for c in BUGS if c.name == f"bug:{mutation_id}"]
    return found.source


@pytest.mark.parametrize(
    ("mutation_id", "failing", "words"),
    [
        ("loss_sum_not_mean", "test_loss_worked_example", "the SUM over positions"),
        ("mask_missing", "test_causal_mask_hides_the_future[3]", "must not see position"),
        ("logits_last_position_only", "test_logits_shape", "a list of 1 lists of 7 Values"),
        ("positions_start_at_one", "test_full_length_is_allowed", "raised ValueError: index 6"),
    ],
)
def test_failures_say_observed_expected_and_what_to_check(
    tmp_path: Path, mutation_id: str, failing: str, words: str
) -> None:
    result = public_results(copy_pack(tmp_path, source=mutant(mutation_id)))
    by_name = {t["name"]: t for t in result["tests"]}
    message = by_name[failing]["message"]
    assert words in message, message
    if "raised" in message:
        assert re.search(r"^at minigpt\.py line \d+, in \w+", message, re.M), message
    else:
        assert re.fullmatch(r"Observed: .+\nExpected: .+\nWhat to check: .+", message, re.S)
    for test in result["tests"]:
        assert "Traceback" not in test["message"] and 'File "' not in test["message"]
        if test["outcome"] != "passed":
            assert not re.fullmatch(r"[\s\d.eE+\-(),\[\]]*", test["message"]), test


# --------------------------------------------------------------------------
# Never stricter than the grader; about the same concept as the grader


@pytest.mark.slow
@pytest.mark.parametrize("case", CORRECT, ids=[c.name for c in CORRECT])
def test_every_correct_solution_passes_every_public_test(tmp_path: Path, case: Case) -> None:
    result = public_results(copy_pack(tmp_path, source=case.source))
    bad = [t for t in result["tests"] if t["outcome"] != "passed" or t["not_judged"]]
    assert not result["problems"] and result["tests"], result["problems"]
    assert not bad, json.dumps(bad, indent=1)


@pytest.fixture(scope="module")
def bank_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    sources = {c.name: c.source for c in BUGS}
    return kit_support.results_for(sources, tmp_path_factory.mktemp("bank"))


@pytest.mark.slow
@pytest.mark.parametrize("case", BUGS, ids=[c.name for c in BUGS])
def test_public_tests_failing_a_bug_are_about_its_check(
    case: Case, bank_results: dict[str, dict[str, Any]]
) -> None:
    result = bank_results[case.name]
    assert not result["problems"], result["problems"]
    failing = [t for t in result["tests"] if t["outcome"] != "passed"]
    wrong = [t["name"] for t in failing if case.must_fail not in t["covers"]]
    assert not wrong, (
        f"{case.name} ({case.must_fail}: {case.description}) fails public tests about other "
        f"checks: {wrong}"
    )


@pytest.mark.slow
def test_public_tests_catch_most_of_the_bank(bank_results: dict[str, dict[str, Any]]) -> None:
    caught = [c.name for c in BUGS if bank_results[c.name]["failed"]]
    rate = len(caught) / len(BUGS)
    print(f"public tests catch {len(caught)} of {len(BUGS)} bugs of the bank ({rate:.0%})")
    assert rate >= CATCH_TARGET, sorted({c.name for c in BUGS} - set(caught))
