"""The attack bank (tests/attacks/bank.py) against the real grader, mode by mode.

Modes: ``docker`` (policy on), ``docker_nopolicy`` (the sandbox alone) and
``process`` (policy on, only the attacks that are harmless to this machine even
if they ran). Each mode grades all of its attacks once, two at a time, the
first time one of its tests runs; every attack then gets its own test that
checks the outcome the bank states for it, plus the rules that hold for every
attack: the run is gradable, nothing of the hidden suite or the reference (or
the judge's /proc entries) appears in what the user gets back, and the run
finishes in time.

Run it all: ``pytest tests/test_attacks.py`` (about 10 minutes on 2 quiet cores);
only the fast bank checks: ``-m "not slow"``; one mode: ``-k process``. The
outcome of every run is also written to ``attack-results-<mode>.json`` in
``$ATTACK_RESULTS_DIR`` (default: pytest's base temporary folder; the path is printed).
"""

from __future__ import annotations

import ast
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from attacks.bank import ALL_CHECKS, ATTACKS, BASE_FAILS, BY_ID, CLASSES, Attack, bomb_source

from grader import paths
from grader.api import grade
from grader.errors import GraderError
from grader.models import CheckResult, Feedback
from grader.policy import check_source
from grader.rubric import CHECKS, MAX_SCORE
from grader.settings import GradeSettings, Limits

MODES: dict[str, dict[str, Any]] = {
    "docker": {"sandbox": "docker", "policy": True},
    "docker_nopolicy": {"sandbox": "docker", "policy": False},
    "process": {"sandbox": "process", "policy": True},
}
THREADS = 2
POINTS = {check.id: check.points for check in CHECKS}
ALL_IDS = frozenset(POINTS)
SENTINEL = "LEAK" + "ED:"
# Words of the judge's command line (its JudgeConfig) and environment, which the
# worker never gets to see.
JUDGE_MARKERS = (
    "worker_prefix",
    "probe_key_file",
    "reference_path",
    "PIP_NO_CACHE_DIR",
    "PYTHONDONTWRITEBYTECODE",
)
WINDOW, STEP = 32, 11


# --- what counts as a leak ---------------------------------------------------------


def _normal(text: str) -> str:
    return " ".join(text.split())


def _module_docstring_and_head(path: Path) -> tuple[str, list[str]]:
    """A file's secret region (its module docstring and its first lines) and its public strings.

    Strings the suite prints (messages, hints, titles) may appear in feedback;
    the module docstring and the code around it never do.
    """
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    doc_node = None
    if tree.body and isinstance(tree.body[0], ast.Expr):
        doc_node = tree.body[0].value
    public = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node is not doc_node
    ]
    return _normal(source)[:900], [_normal(s) for s in public]


def secret_windows() -> dict[str, str]:
    """Snippets of hidden text (window -> file) that must never reach a user."""
    public = [_normal(f"{c.title} {c.hint}") for c in CHECKS]
    for path in (paths.TEMPLATE_DIR / "minigpt.py", *paths.PACK_FILES):
        public.append(_normal(path.read_text(encoding="utf-8")))
    files = [paths.REFERENCE_PATH, *sorted(paths.SUITE_DIR.glob("*.py"))]
    windows: dict[str, str] = {}
    for path in files:
        region, strings = _module_docstring_and_head(path)
        if path == paths.REFERENCE_PATH:  # the student's own code may echo reference lines
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False)
            region = _normal(doc or "")
        for start in range(0, max(len(region) - WINDOW, 1), STEP):
            window = region[start : start + WINDOW]
            if len(window) < WINDOW // 2:
                continue
            if any(window in text for text in [*public, *strings]):
                continue
            windows[window] = path.name
    return windows


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def find_leaks(text: str, windows: dict[str, str]) -> list[str]:
    found = [f"{marker!r}" for marker in (SENTINEL, *JUDGE_MARKERS) if marker in text]
    found += [f"{w!r} (from {name})" for w, name in windows.items() if w in text]
    return found


# --- grading ------------------------------------------------------------------------


@dataclass
class Result:
    attack: str
    mode: str
    seconds: float
    feedback: Feedback | None = None
    error: str | None = None  # a GraderError: exit 3 (or 2), no verdict

    @property
    def text(self) -> str:
        """Everything the user gets back, whitespace-normalised."""
        parts: list[str] = []
        if self.feedback is not None:
            parts.extend(_strings(self.feedback.model_dump(mode="json")))
        if self.error:
            parts.append(self.error)
        return "\n".join(_normal(p) for p in parts)

    def summary(self) -> dict[str, Any]:
        fb = self.feedback
        return {
            "attack": self.attack,
            "mode": self.mode,
            "seconds": round(self.seconds, 1),
            "grader_error": self.error,
            "status": fb.status if fb else None,
            "gradable": fb.gradable if fb else False,
            "score": fb.score if fb else None,
            "error": fb.error.model_dump() if fb and fb.error else None,
            "failing": sorted(c.id for c in fb.checks if not c.passed) if fb else None,
            "issues": {c.id: [i.message[:200] for i in c.issues] for c in fb.checks if c.issues}
            if fb
            else None,
            "student_output": fb.student_output.bytes if fb else None,
        }


def fake_verdict_line() -> str:
    """A full-marks Feedback the host would accept, if a planted module could print it."""
    checks = [
        CheckResult(id=c.id, title=c.title, passed=True, score=c.points, max_score=c.points)
        for c in CHECKS
    ]
    feedback = Feedback(
        status="passed",
        summary="PLANTED-BOMB-RAN",
        score=MAX_SCORE,
        max_score=MAX_SCORE,
        checks=checks,
    )
    return feedback.model_dump_json() + "\n"


def source_context() -> dict[str, str]:
    return {"BOMB": repr(bomb_source(fake_verdict_line())), "SUITE_HASH": paths.suite_hash()}


def grade_one(attack: Attack, mode: str, folder: Path) -> Result:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "minigpt.py"
    path.write_text(attack.source(source_context()), encoding="utf-8")
    settings = GradeSettings(
        sandbox=MODES[mode]["sandbox"],
        policy=MODES[mode]["policy"],
        limits=Limits(**attack.settings_limits()),
    )
    started = time.monotonic()
    try:
        feedback = grade(path, settings)
    except GraderError as exc:
        return Result(attack.id, mode, time.monotonic() - started, error=str(exc))
    except Exception as exc:  # the grader itself broke: report, do not hide
        return Result(
            attack.id, mode, time.monotonic() - started, error=f"{type(exc).__name__}: {exc}"
        )
    return Result(attack.id, mode, time.monotonic() - started, feedback=feedback)


def attacks_for(mode: str) -> list[Attack]:
    return [attack for attack in ATTACKS if mode in attack.modes]


_RESULTS: dict[str, dict[str, Result]] = {}
_WALL: dict[str, float] = {}


def graded(mode: str, root: Path) -> dict[str, Result]:
    """Every attack of ``mode``, graded once per session, THREADS at a time."""
    if mode not in _RESULTS:
        attacks = attacks_for(mode)
        # The slow ones first, so the pool does not end on a long tail.
        attacks.sort(
            key=lambda a: -a.settings_limits()["wall_timeout"] - 100 * (a.cls == "resource")
        )
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            futures = {a.id: pool.submit(grade_one, a, mode, root / mode / a.id) for a in attacks}
            _RESULTS[mode] = {key: future.result() for key, future in futures.items()}
        _WALL[mode] = time.monotonic() - started
        folder = Path(os.environ.get("ATTACK_RESULTS_DIR") or root)
        folder.mkdir(parents=True, exist_ok=True)
        report = folder / f"attack-results-{mode}.json"
        report.write_text(
            json.dumps(
                {
                    "mode": mode,
                    "wall_seconds": round(_WALL[mode], 1),
                    "results": [r.summary() for r in _RESULTS[mode].values()],
                },
                indent=1,
            )
        )
        print(f"\n[attacks] {mode}: {len(attacks)} gradings in {_WALL[mode]:.0f} s -> {report}")
    return _RESULTS[mode]


# --- judging one outcome ---------------------------------------------------------------


def base_fails(attack: Attack) -> frozenset[str]:
    fails = BASE_FAILS[attack.base]
    return ALL_IDS if fails == ALL_CHECKS else frozenset(fails)


def problems(result: Result, attack: Attack, windows: dict[str, str]) -> list[str]:
    expect = attack.expect(result.mode)
    found: list[str] = []
    leaks = find_leaks(result.text, windows)
    if leaks:
        found.append(f"LEAK: the user gets back hidden text: {', '.join(leaks[:4])}")
    if result.seconds > expect.max_seconds:
        found.append(f"took {result.seconds:.0f} s (limit {expect.max_seconds:.0f} s)")
    fb = result.feedback
    if fb is None:
        found.append(f"UNGRADABLE: the grader raised instead of giving a verdict: {result.error}")
        return found
    if not fb.gradable:
        found.append(f"UNGRADABLE (exit 3, no score): {fb.summary[:300]}")
        return found
    refused = fb.status == "error" and fb.error is not None and fb.error.kind == "policy"
    if refused and expect.refusal_ok:
        return found
    if refused and expect.error_kind != "policy":
        found.append(f"refused by the policy, but it should run: {fb.error.message[:200]}")
        return found
    if expect.status is not None and fb.status not in expect.status:
        found.append(f"status {fb.status}, expected {sorted(expect.status)}")
    if expect.error_kind is not None and (fb.error is None or fb.error.kind != expect.error_kind):
        found.append(
            f"error kind {fb.error.kind if fb.error else None}, expected {expect.error_kind}"
        )
    failing = {c.id for c in fb.checks if not c.passed}
    deserved = (base_fails(attack) if expect.base_fails_too else frozenset()) | expect.must_fail
    slipped = sorted(deserved - failing)
    if slipped:
        found.append(f"RAISED: checks that must fail passed: {', '.join(slipped)}")
    if expect.keep_others:
        lost = sorted(failing - deserved - expect.may_fail)
        if lost:
            found.append(f"lost credit it should keep: {', '.join(lost)}")
    max_score = expect.max_score
    if max_score is None:
        max_score = MAX_SCORE - sum(POINTS[c] for c in deserved)
    if fb.score is None or fb.score > max_score + 1e-9:
        found.append(f"RAISED: score {fb.score}, at most {max_score:g} deserved")
    min_score = expect.min_score
    if min_score is None and expect.keep_others:
        min_score = MAX_SCORE - sum(POINTS[c] for c in deserved | expect.may_fail)
    if min_score is not None and (fb.score or 0.0) < min_score - 1e-9:
        found.append(f"score {fb.score}, at least {min_score:g} expected")
    for text in expect.absent:
        if text in result.text:
            found.append(f"the feedback repeats {text!r}")
    if fb.student_output.bytes < expect.min_output_bytes:
        found.append(
            f"student_output counted {fb.student_output.bytes} bytes, "
            f"expected at least {expect.min_output_bytes}"
        )
    return found


def describe(result: Result) -> str:
    fb = result.feedback
    if fb is None:
        return f"[{result.seconds:.0f} s] grader error: {result.error}"
    failing = sorted(c.id for c in fb.checks if not c.passed)
    error = f", error {fb.error.kind}: {fb.error.message[:160]}" if fb.error else ""
    said = "".join(
        f"\n    {c.id}: {c.issues[0].message[:300]}" for c in fb.checks if not c.passed and c.issues
    )
    return (
        f"[{result.seconds:.0f} s] status {fb.status}, gradable {fb.gradable}, score {fb.score}"
        f"{error}; failing: {', '.join(failing) or 'none'}{said}"
    )


# --- the tests --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def windows() -> dict[str, str]:
    return secret_windows()


@pytest.fixture(scope="module")
def results_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("attacks")


def _cases() -> Iterator[Any]:
    for mode in MODES:
        marks = [pytest.mark.slow]
        if mode.startswith("docker"):
            marks.append(pytest.mark.docker)
        for attack in attacks_for(mode):
            yield pytest.param(mode, attack.id, marks=marks, id=f"{mode}-{attack.id}")


@pytest.mark.timeout(3600)  # the first test of a mode grades all of that mode's attacks
@pytest.mark.parametrize(("mode", "attack_id"), list(_cases()))
def test_attack(
    mode: str,
    attack_id: str,
    request: pytest.FixtureRequest,
    windows: dict[str, str],
    results_root: Path,
) -> None:
    if mode.startswith("docker"):
        request.getfixturevalue("docker_client")
    attack = BY_ID[attack_id]
    result = graded(mode, results_root)[attack_id]
    found = problems(result, attack, windows)
    assert not found, (
        f"{attack_id} ({attack.cls}, {mode}): {attack.description}\n  got: {describe(result)}\n"
        + "\n".join(f"  - {p}" for p in found)
    )


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("mode", ["docker", "docker_nopolicy"])
def test_no_container_left(mode: str, docker_client: Any, results_root: Path) -> None:
    from grader.sandbox.docker_backend import leftover_containers

    graded(mode, results_root)
    assert leftover_containers(docker_client) == [], "an attack left a grading container behind"


# Fast checks of the bank itself.


def test_bank_is_complete() -> None:
    ids = [attack.id for attack in ATTACKS]
    assert len(ids) >= 40
    assert len(ids) == len(set(ids))
    assert {attack.cls for attack in ATTACKS} == set(CLASSES)
    for attack in ATTACKS:
        assert attack.base in BASE_FAILS, attack.id
        for expect in (attack.on, attack.off):
            if expect is None:
                continue
            assert expect.must_fail <= ALL_IDS, (attack.id, expect.must_fail - ALL_IDS)
            assert expect.may_fail <= ALL_IDS, (attack.id, expect.may_fail - ALL_IDS)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.id)
def test_attack_source_and_policy(attack: Attack) -> None:
    """Each attack parses; the policy refuses exactly those meant to be refused.

    Attacks whose expectation allows a refusal (reflective tricks) may go either
    way here: the graded outcome is what counts.
    """
    source = attack.source(source_context())
    ast.parse(source)
    assert len(source.encode()) < 100_000, "over the default size limit"
    problem = check_source(source.encode(), pack_dir=paths.TEMPLATE_DIR)
    if attack.on.error_kind == "policy":
        assert problem is not None and problem.kind == "policy", "the policy lets it run"
    elif not attack.on.refusal_ok:
        assert problem is None, f"plain code refused: {problem.message if problem else ''}"


def test_leak_windows_are_specific(windows: dict[str, str]) -> None:
    """The leak detector knows enough hidden text, none of it public."""
    files = {name for name in windows.values()}
    assert paths.REFERENCE_PATH.name in files
    assert len(files) >= 10
    for attack in ATTACKS:
        assert SENTINEL not in attack.source(source_context()), attack.id
