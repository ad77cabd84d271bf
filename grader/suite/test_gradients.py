"""Check `gradients`: backward's gradients are finite, mostly non-zero, and correct."""

from __future__ import annotations

import math

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import MODEL, expect

pytestmark = pytest.mark.check("gradients")

CONFIG = {**MODEL, "num_layers": 2}
IDS = [0, 1, 2, 3, 4, 5]
TARGETS = [1, 2, 3, 4, 5, 6]
CUT_HINT = (
    "A gradient is missing somewhere: a Value(x.data) copy, a float taken from .data, or "
    "a value computed outside the graph cuts backward off from the weights before it."
)


def _grad_check(student: Subject) -> dict:
    return student.run("grad_check", budget=3.0, config=CONFIG, ids=IDS, targets=TARGETS)


def _close(analytic: float, numeric: float) -> bool:
    return abs(analytic - numeric) <= 1e-5 + 2e-2 * max(abs(analytic), abs(numeric))


def test_gradients_finite_and_nonzero(student: Subject) -> None:
    """After loss.backward(), every gradient is finite and most are non-zero"""
    result = _grad_check(student)
    expect(
        result["nonfinite"] == 0,
        f"{result['nonfinite']} parameter gradients are inf or nan after backward",
        "Look for a division by zero or an exp() of a large number in the forward pass.",
    )
    n = result["num_params"]
    expect(n > 0, "MiniGPT.parameters() is empty")
    share = result["nonzero"] / n
    expect(
        share >= 0.5,
        f"only {result['nonzero']} of {n} parameters ({share:.0%}) got a non-zero gradient "
        "from a loss over every position and token",
        CUT_HINT,
    )


def test_gradients_match_finite_differences(student: Subject) -> None:
    """Gradients agree with finite differences of the loss"""
    result = _grad_check(student)
    for analytic, numeric in result["singles"]:
        expect(
            _close(analytic, numeric),
            f"a parameter's gradient is {analytic:.6g} but nudging it changes the loss at a "
            f"rate of {numeric:.6g}",
            CUT_HINT,
        )
    if result["full"] is not None:
        analytic, numeric = result["full"]
        expect(
            _close(analytic, numeric),
            f"moving all parameters together changes the loss at a rate of {numeric:.6g}, "
            f"but the gradients predict {analytic:.6g}",
            CUT_HINT,
        )
    zero = result["zero_direction"]
    expect(
        math.isfinite(zero) and abs(zero) <= 1e-4,
        f"{result['zero_count']} parameters have a gradient of exactly 0, yet changing them "
        f"changes the loss (rate {zero:.3g}): backward does not reach them",
        CUT_HINT,
    )
