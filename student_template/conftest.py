"""pytest setup for the public tests.

* Stops at once, saying why, on a Python or pytest too old for the pack, or
  when minigpt.py cannot be imported (a syntax error, a missing class).
* Makes this folder importable, so tests can `import minigpt`.
* Seeds `random` before every test, so results repeat from run to run.
* Reports an error raised by your code as one short paragraph naming your
  line ("SelfAttention.forward is not implemented yet: ...", "ZeroDivisionError
  ... at minigpt.py line 80") instead of a traceback.
* Passes a test that stops at requires(): it builds on a part another test
  reports as wrong, and is marked "not judged" until that test passes.
* Registers the `covers` marker: which of the grader's checks a test is about
  (check.py shows that map).
"""

from __future__ import annotations

import importlib
import linecache
import random
import sys
import traceback
from collections.abc import Generator
from pathlib import Path

import pytest

OLDEST_PYTHON = (3, 9)
OLDEST_PYTEST = 8
API = (
    "Embedding",
    "LayerNorm",
    "FeedForward",
    "SelfAttention",
    "TransformerBlock",
    "MiniGPT",
    "cross_entropy_loss",
    "generate",
)

HERE = Path(__file__).resolve().parent
for folder in (HERE / "tests", HERE):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from helpers import RESULTS, NotJudged  # noqa: E402  (tests/helpers.py, found on sys.path)


def pytest_configure(config: pytest.Config) -> None:
    if sys.version_info < OLDEST_PYTHON:
        pytest.exit(
            "the Mini-GPT pack needs Python 3.9 or newer, and this is Python "
            f"{sys.version_info[0]}.{sys.version_info[1]}. Install a newer Python "
            "(the grader uses 3.11), then make the virtual environment again with it "
            "(README.md, 'Setting up').",
            returncode=4,
        )
    if int(pytest.__version__.split(".")[0]) < OLDEST_PYTEST:
        pytest.exit(
            f"the public tests need pytest 8 or newer, and this is pytest {pytest.__version__}. "
            "Install it in the kit's virtual environment (README.md, 'Setting up'): "
            "python -m pip install --upgrade pytest",
            returncode=4,
        )
    config.addinivalue_line("markers", "covers(*ids): the grader's checks this test is about")


def pytest_sessionstart(session: pytest.Session) -> None:
    problem = import_problem()
    if problem:
        pytest.exit(problem, returncode=4)


def import_problem() -> str | None:
    """Why minigpt.py cannot be imported or lacks a part of the API, in words (None: fine)."""
    try:
        module = importlib.import_module("minigpt")
    except SyntaxError as exc:
        return (
            f"minigpt.py has a syntax error on line {exc.lineno}: {exc.msg}. "
            "Fix it, then run the tests again."
        )
    except ImportError as exc:
        return (
            f"minigpt.py cannot be imported: {exc}. It may import only engine, nn and the "
            "modules README.md lists ('Imports you may use')."
        )
    except Exception as exc:  # anything the file raises while it is imported
        return f"importing minigpt.py failed: {explain(exc)}"
    missing = [name for name in API if not hasattr(module, name)]
    if missing:
        return (
            f"minigpt.py does not define {', '.join(missing)}. Keep every class and "
            "function of the skeleton, with its name and signature."
        )
    return None


@pytest.fixture(autouse=True)
def _seed_random() -> None:
    random.seed(1234)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    try:
        return (yield)
    except NotJudged as exc:  # another test reports the problem this one depends on
        pyfuncitem.user_properties.append(("not_judged", str(exc)))
        return True
    except NotImplementedError as exc:
        # A missing part is no reason to hold back the tests that build on it (see after()):
        # they meet the same NotImplementedError and say so.
        pyfuncitem.user_properties.append(("not_implemented", True))
        message = str(exc) or "this part is not implemented yet"
    except Exception as exc:  # raised by your code (or by a test that could not use its result)
        message = explain(exc)
    # Failing outside the except block keeps the original error out of the report.
    pytest.fail(message, pytrace=False)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep each test's result for after(): "" when it passed, else the test to fix first."""
    if report.when != "call" and not report.failed:
        return
    name = report.nodeid.rsplit("::", 1)[-1]
    blocker = "" if report.passed else name
    for key, value in report.user_properties:
        if key == "not_judged":
            blocker = str(value)
        elif key == "not_implemented":
            blocker = ""
    for key in (name, name.split("[")[0]):
        RESULTS[key] = RESULTS.get(key, "") or blocker


def explain(exc: BaseException) -> str:
    """An exception as one paragraph: its type and message, and the line of minigpt.py."""
    text = str(exc).strip()
    if len(text) > 300:
        text = text[:300] + "..."
    what = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if Path(f.filename).name == "minigpt.py"]
    if not mine:
        origin = frames[-1] if frames else None
        where = f" (in {Path(origin.filename).name}, line {origin.lineno})" if origin else ""
        return (
            f"{what}{where}. The test could not use what your code returned: compare its "
            "type and shape with the table in README.md."
        )
    frame = mine[-1]
    line = (linecache.getline(frame.filename, frame.lineno) or "").strip()
    where = f"minigpt.py line {frame.lineno}, in {frame.name}"
    if line:
        where += f": {line}"
    last = frames[-1]
    if last is not frame:
        where += f" (raised inside {Path(last.filename).name}, {last.name})"
    return f"your code raised {what}\nat {where}"
