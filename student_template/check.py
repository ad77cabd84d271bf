"""Run the public tests and show what they say about each of the grader's checks.

    python check.py          a panel: the grader's checks (title, points), the public
                             tests about each with their results, and what only the
                             grader can tell
    python check.py --json   the same results as JSON, for scripts

Needs Python 3.9 or newer and pytest (README.md, "Setting up"), nothing else.
It prints no traceback: a failing test says what it observed, what it
expected and what to check. The grader's own tests stay hidden; the map
(grader_checks.json) only names its checks and says what it looks at.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MAP_FILE = HERE / "grader_checks.json"
OLDEST_PYTHON = (3, 9)
SETUP = "README.md, 'Setting up'"

# Exit codes: every public test passes; some fail; the tests could not run.
PASSED, FAILED, NOT_RUN = 0, 1, 2


class Collector:
    """A pytest plugin that keeps each test's outcome, message and `covers` marker."""

    def __init__(self) -> None:
        self.tests: dict[str, dict[str, Any]] = {}
        self.problems: list[str] = []  # what stopped the run (a message in words)

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        for item in items:
            covers = [str(c) for mark in item.iter_markers("covers") for c in mark.args]
            self.tests[item.nodeid] = {
                "name": item.name,
                "file": item.nodeid.split("::")[0],
                "covers": covers,
                "outcome": "not run",
                "message": "",
                "not_judged": "",
            }

    def pytest_runtest_logreport(self, report: Any) -> None:
        test = self.tests.get(report.nodeid)
        if test is None:
            return
        if report.failed and test["outcome"] != "failed":
            test["outcome"] = "failed"
            test["message"] = report.longreprtext.strip()
        elif report.when == "call" and report.passed:
            test["outcome"] = "passed"
        elif report.skipped:
            test["outcome"] = "skipped"
        for name, value in report.user_properties:
            if name == "not_judged":
                test["not_judged"] = f"not judged until {value} passes"

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.problems.append(f"{report.nodeid} could not be loaded:\n{report.longreprtext}")

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        # pytest.exit() from conftest.py (an old Python or pytest, minigpt.py not importable)
        # or Ctrl-C.
        message = str(getattr(excinfo.value, "msg", "") or excinfo.value).strip()
        self.problems.append(message or "the tests were stopped (Ctrl-C)")


def run_tests() -> tuple[Collector, str]:
    """Run the public tests in this process; returns the collector and pytest's own output."""
    import pytest

    collector = Collector()
    output = io.StringIO()
    args = ["-p", "no:cacheprovider", "-c", str(HERE / "pytest.ini"), "--rootdir", str(HERE)]
    previous = os.getcwd()
    os.chdir(HERE)
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            pytest.main([*args, str(HERE / "tests")], plugins=[collector])
    finally:
        os.chdir(previous)
    return collector, output.getvalue()


def load_map() -> list[dict[str, Any]]:
    """The grader's checks (id, title, points, grader_only), or [] without the map file."""
    try:
        data = json.loads(MAP_FILE.read_text(encoding="utf-8"))
        return [dict(check) for check in data["checks"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def summarise(collector: Collector, checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The results as plain data: every test, every check with its tests and status."""
    tests = list(collector.tests.values())
    for check in checks:
        mine = [t for t in tests if check["id"] in t["covers"]]
        check["tests"] = [t["name"] for t in mine]
        if any(t["outcome"] != "passed" for t in mine):
            check["status"] = "failed"
        elif any(t["not_judged"] for t in mine):
            check["status"] = "not judged"
        else:
            check["status"] = "passed" if mine else "no public test"
    failed = [t for t in tests if t["outcome"] != "passed"]
    problems = list(collector.problems)
    if not tests and not problems:
        problems.append("no public test was found in tests/")
    return {
        "passed": len(tests) - len(failed),
        "failed": len(failed),
        "problems": problems,
        "tests": tests,
        "checks": checks,
    }


# --------------------------------------------------------------------------
# The panel


class Box:
    """Box-drawing characters, or plain ASCII where the terminal cannot show them."""

    FANCY = ("╭", "╮", "╰", "╯", "─", "│", "✓", "✗", "·")
    PLAIN = ("+", "+", "+", "+", "-", "|", "ok", "X", "-")

    def __init__(self, encoding: str | None) -> None:
        chars = self.FANCY
        try:
            "".join(chars).encode(encoding or "ascii")
        except (UnicodeEncodeError, LookupError):
            chars = self.PLAIN
        self.tl, self.tr, self.bl, self.br, self.h, self.v, self.ok, self.bad, self.dot = chars


def wrap(text: str, width: int, indent: int = 0, hanging: int = 0) -> list[str]:
    """text's lines wrapped to width, the first at `indent` spaces, the others at `hanging`."""
    lines = []
    for i, paragraph in enumerate(text.splitlines() or [""]):
        first = " " * (indent if i == 0 else hanging)
        lines += textwrap.wrap(
            paragraph, width, initial_indent=first, subsequent_indent=" " * hanging
        ) or [first]
    return lines


def panel_lines(summary: dict[str, Any], box: Box, width: int) -> list[str]:
    """The lines inside the panel (without the frame), each at most `width` characters."""
    out: list[str] = []
    for problem in summary["problems"]:
        out += [*wrap(problem, width), ""]
    total = summary["passed"] + summary["failed"]
    if not total:
        return [*out, *wrap("Fix this, then run check.py again.", width)]
    if summary["failed"]:
        out.append(f"{summary['failed']} of {total} public tests fail.")
    else:
        out.append(f"All {total} public tests pass.")
    by_name = {t["name"]: t for t in summary["tests"]}
    shown: dict[str, str] = {}  # test, message or test function -> the test shown with it
    order = {"failed": 0, "not judged": 1, "passed": 2, "no public test": 3}
    for check in sorted(summary["checks"], key=lambda c: order[c["status"]]):
        out += check_lines(check, [by_name[name] for name in check["tests"]], box, width, shown)
    if summary["checks"]:
        passed = [c for c in summary["checks"] if c["status"] == "passed"]
        points = sum(c["points"] for c in passed)
        full = sum(c["points"] for c in summary["checks"])
        verdict = (
            f"The public tests of {len(passed)} of the grader's {len(summary['checks'])} checks "
            f"pass ({points:g} of {full:g} points). The grader decides with its own hidden "
            "tests, on inputs of its own: a check can still fail there."
        )
        out += ["", *wrap(verdict, width)]
    if summary["failed"]:
        out += wrap(f"Run one test alone: {python_command()} -m pytest -k NAME", width)
    elif not summary["problems"]:
        out += wrap("When you are done, hand in minigpt.py: README.md, 'How to submit'.", width)
    return out


def check_lines(
    check: dict[str, Any], tests: list[dict[str, Any]], box: Box, width: int, shown: dict[str, str]
) -> list[str]:
    """One check: title and points, its failing tests (each message in full once), the tests
    not judged yet, the passing ones, and what only the grader can tell."""
    mark = {"passed": box.ok, "failed": box.bad}.get(check["status"], box.dot)
    points = f"{check['points']:g} point{'s' if check['points'] != 1 else ''}"
    out = ["", *wrap(f"{mark} {check['title']}  ({points})", width, 0, 2)]
    for test in tests:
        if test["outcome"] == "passed":
            continue
        name, message = test["name"], test["message"] or test["outcome"]
        function = name.split("[")[0]  # a test run with several inputs
        if name in shown:
            told: str | None = f"{name}: see above"
        elif message in shown:
            told = f"{name}: the same message as {shown[message]}, above"
        elif function in shown:
            told = f"{name}: fails too (the same test, with other inputs)"
        else:
            told = None
        for key in (name, message, function):
            shown.setdefault(key, name)
        out += wrap(f"{box.bad} {told or name}", width, 2, 4)
        if told is None:
            out += wrap(message, width, 4, 4)
    for test in tests:
        if test["outcome"] == "passed" and test["not_judged"]:
            out += wrap(f"{box.dot} {test['name']}: {test['not_judged']}", width, 2, 4)
    judged = [t["name"] for t in tests if t["outcome"] == "passed" and not t["not_judged"]]
    if not tests:
        out += wrap("no public test", width, 2, 4)
    elif len(judged) == len(tests):
        out += wrap(f"public tests: {', '.join(judged)}", width, 2, 4)
    elif judged:
        out += wrap(f"passing: {', '.join(judged)}", width, 2, 4)
    return out + wrap(f"only the grader: {check['grader_only']}", width, 2, 4)


def python_command() -> str:
    """How to call this Python from the kit's folder: .venv/bin/python, say, or python."""
    try:
        return str(Path(sys.executable).relative_to(HERE))
    except ValueError:
        return "python"


def render(summary: dict[str, Any], encoding: str | None, columns: int) -> str:
    box = Box(encoding)
    width = max(50, min(88, columns))
    inner = width - 4
    title = " minigpt.py: public tests "
    top = box.tl + box.h + title + box.h * (width - 3 - len(title)) + box.tr
    body = [f"{box.v} {line.ljust(inner)} {box.v}" for line in panel_lines(summary, box, inner)]
    bottom = box.bl + box.h * (width - 2) + box.br
    return "\n".join([top, *body, bottom])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the public tests; show the grader's checks.")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if sys.version_info < OLDEST_PYTHON:
        print(f"check.py needs Python 3.9 or newer ({SETUP}).", file=sys.stderr)
        return NOT_RUN
    try:
        import pytest  # noqa: F401
    except ImportError:
        print(
            f"pytest is not installed for this Python ({sys.executable}). Run check.py with "
            f"the kit's virtual environment, where you installed pytest ({SETUP}).",
            file=sys.stderr,
        )
        return NOT_RUN
    collector, pytest_output = run_tests()
    summary = summarise(collector, load_map())
    if not summary["tests"] and not collector.problems:
        summary["problems"].append("pytest said:\n" + pytest_output.strip())
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="replace")
        columns = shutil.get_terminal_size((88, 24)).columns
        print(render(summary, sys.stdout.encoding, columns))
    if summary["problems"] or not summary["tests"]:
        return NOT_RUN
    return FAILED if summary["failed"] else PASSED


if __name__ == "__main__":
    sys.exit(main())
