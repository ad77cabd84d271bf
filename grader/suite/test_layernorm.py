"""Check `layernorm`: (x - mean) / sqrt(var + eps), population variance, at init."""

from __future__ import annotations

import math

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import close, expect, fmt

pytestmark = pytest.mark.check("layernorm")

INPUTS = [
    [0.5, -1.2, 3.0, 0.0, 2.2],
    [10.0, 11.0, 9.5, 10.5, 12.0],
    [-3.0, 4.0, -2.0, 1.0, 0.5],
]
# Variance ~1e-6: the result depends visibly on where eps goes.
TINY_VARIANCE = [1.0, 1.001, 0.999, 1.0015, 0.9985]


def _variants(x: list[float]) -> dict[str, list[float]]:
    """Common wrong formulas, to say which mistake was made."""
    n = len(x)
    mean = sum(x) / n
    pop = sum((v - mean) ** 2 for v in x) / n
    sample = sum((v - mean) ** 2 for v in x) / (n - 1)
    return {
        "sample variance (dividing by D - 1)": [(v - mean) / math.sqrt(sample + 1e-5) for v in x],
        "eps outside the square root": [(v - mean) / (math.sqrt(pop) + 1e-5) for v in x],
        "standard deviation without the square root": [(v - mean) / (pop + 1e-5) for v in x],
        "no mean subtraction": [v / math.sqrt(pop + 1e-5) for v in x],
    }


def _diagnose(x: list[float], got: list[float]) -> str | None:
    for name, values in _variants(x).items():
        if close(got, values, rel=1e-4, abs_tol=1e-6):
            return f"Your output matches {name}."
    return None


def test_matches_formula(student: Subject, reference: Subject) -> None:
    """LayerNorm at initialisation equals (x - mean) / sqrt(var + eps)"""
    inputs = [*INPUTS, TINY_VARIANCE]
    got = student.run("run_module", component="LayerNorm", args=[5], inputs=inputs)["outputs"]
    want = reference.run("run_module", component="LayerNorm", args=[5], inputs=inputs)["outputs"]
    for x, g, w in zip(inputs, got, want, strict=True):
        diagnosis = _diagnose(x, g["data"])
        expect(
            close(g["data"], w["data"], rel=1e-5, abs_tol=1e-7),
            f"LayerNorm(5) on {fmt(x)} gave {fmt(g['data'])}; expected {fmt(w['data'])}",
            diagnosis
            and f"{diagnosis} Use (x - mean) / sqrt(var + eps), var = mean((x - mean)^2).",
        )


def test_constant_vector(student: Subject) -> None:
    """A constant vector normalises to finite zeros (eps keeps the division safe)"""
    got = student.run(
        "run_module", component="LayerNorm", args=[4], inputs=[[3.0] * 4, [-0.25] * 4]
    )["outputs"]
    for out in got:
        values = out["data"]
        expect(
            all(math.isfinite(v) and abs(v) < 1e-6 for v in values),
            f"LayerNorm(4) on a constant vector gave {fmt(values)}; expected zeros",
            "Add eps inside the square root so a zero variance does not divide by zero.",
        )
