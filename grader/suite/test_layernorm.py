"""Check `layernorm`: (x - mean) / sqrt(var + eps), population variance, at init.

At initialisation (gain 1 and bias 0, or none), on random vectors, a vector far
from 0 and a nearly constant one (variance about 1e-6, where eps shows).

False failures: none; a correct norm agrees with the formula up to rounding
(about 1e-13 of the output here, against a tolerance of 1e-5).
"""

from __future__ import annotations

import math

import pytest

from grader.judge.remote import Student
from grader.suite.suite_support import build, close, expect, fmt

pytestmark = pytest.mark.check("layernorm")


def formula(x: list[float], eps: float) -> list[float]:
    n = len(x)
    mean = sum(x) / n
    var = sum((v - mean) ** 2 for v in x) / n
    return [(v - mean) / math.sqrt(var + eps) for v in x]


def _variants(x: list[float], eps: float) -> dict[str, list[float]]:
    """Common wrong formulas, to say which mistake was made."""
    n = len(x)
    mean = sum(x) / n
    pop = sum((v - mean) ** 2 for v in x) / n
    sample = sum((v - mean) ** 2 for v in x) / (n - 1)
    return {
        "sample variance (dividing by D - 1)": [(v - mean) / math.sqrt(sample + eps) for v in x],
        "eps outside the square root": [(v - mean) / (math.sqrt(pop) + eps) for v in x],
        "the variance instead of its square root": [(v - mean) / (pop + eps) for v in x],
        "no mean subtraction": [v / math.sqrt(pop + eps) for v in x],
        "the default eps 1e-5 instead of the eps argument": formula(x, 1e-5),
    }


def _diagnose(x: list[float], eps: float, got: list[float]) -> str | None:
    for name, values in _variants(x, eps).items():
        if values != formula(x, eps) and close(got, values, rel=1e-4, abs_tol=1e-6):
            return f"Your output matches {name}."
    return None


def _inputs(student: Student, name: str, d: int) -> list[list[float]]:
    rng = student.rng(name)
    spread = [[rng.uniform(-3, 3) for _ in range(d)] for _ in range(2)]
    offset = [[10 + rng.uniform(-1, 1) for _ in range(d)]]
    tiny = [[1 + rng.uniform(-2e-3, 2e-3) for _ in range(d)]]  # variance ~1e-6: eps shows
    return spread + offset + tiny


def _check(student: Student, name: str, d: int, eps: float | None) -> None:
    rng = student.rng(name)
    kwargs = {} if eps is None else {"eps": eps}
    ln = build(student, rng, "LayerNorm", d, **kwargs)
    used = 1e-5 if eps is None else eps
    call = f"LayerNorm({d}{'' if eps is None else f', eps={eps:g}'})"
    for x in _inputs(student, name, d):
        got = ln.forward(x).data
        want = formula(x, used)
        expect(
            close(got, want, rel=1e-5, abs_tol=1e-7),
            f"{call}({fmt(x)}) returned {fmt(got)}; expected (x - mean) / sqrt(var + eps) = "
            f"{fmt(want)}",
            _diagnose(x, used, got),
        )


def test_matches_formula(student: Student) -> None:
    """LayerNorm at initialisation equals (x - mean) / sqrt(var + eps), eps = 1e-5"""
    _check(student, "layernorm.default", 5, None)


def test_eps_argument(student: Student) -> None:
    """LayerNorm uses the eps it was given"""
    _check(student, "layernorm.eps", 4, 0.5)


def test_constant_vector(student: Student) -> None:
    """A constant vector normalises to finite zeros (eps keeps the division safe)"""
    rng = student.rng("layernorm.constant")
    ln = build(student, rng, "LayerNorm", 4)
    got = ln.forward([2.5, 2.5, 2.5, 2.5]).data
    expect(
        close(got, [0.0] * 4, abs_tol=1e-6),
        f"LayerNorm of a constant vector returned {fmt(got)}; expected zeros",
        "Keep eps inside the square root: sqrt(var + eps) is never 0.",
    )
