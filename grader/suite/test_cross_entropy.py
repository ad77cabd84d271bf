"""Check `cross_entropy`: mean of logsumexp - target logit, its gradient, stability."""

from __future__ import annotations

import math
from typing import Any

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import close, expect, fmt, random_rows

pytestmark = pytest.mark.check("cross_entropy")


CASES = [
    (random_rows(3, 5, 51, scale=2.0), [4, 0, 2]),
    (random_rows(1, 4, 52, scale=2.0), [3]),
    (random_rows(6, 3, 53, scale=5.0), [0, 1, 2, 2, 1, 0]),
]
LARGE = (
    [[800.0, 799.0, 790.0, 801.5], [-800.0, -805.0, -799.0, -812.0], [795.0, -795.0, 0.0, 796.0]],
    [3, 2, 0],
)


def _diagnose(got: float, want: float, t: int) -> str | None:
    if t > 1 and math.isclose(got, want * t, rel_tol=1e-6):
        return "Your loss is the SUM over positions; divide by the number of positions."
    if math.isclose(got, -want, rel_tol=1e-6):
        return "Your loss has the wrong sign: it is minus the log-probability."
    return None


def _both(
    student: Subject, reference: Subject, logits: list[list[float]], targets: list[int]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The student's and the reference's loss and gradients on the same logits."""
    args: dict[str, Any] = {"logits": logits, "targets": targets}
    return student.run("cross_entropy", **args), reference.run("cross_entropy", **args)


def test_value_matches(student: Subject, reference: Subject) -> None:
    """The loss equals mean over positions of logsumexp(z) - z[target]"""
    for logits, targets in CASES:
        got, want = _both(student, reference, logits, targets)
        expect(
            close(got["loss"], want["loss"], rel=1e-7, abs_tol=1e-9),
            f"cross_entropy_loss on {len(targets)} positions gave {got['loss']:.6g}; "
            f"expected {want['loss']:.6g}",
            _diagnose(got["loss"], want["loss"], len(targets)),
        )


def test_gradient_matches(student: Subject, reference: Subject) -> None:
    """The gradient with respect to the logits is (softmax - onehot) / T"""
    for logits, targets in CASES:
        got, want = _both(student, reference, logits, targets)
        expect(
            close(got["grads"], want["grads"], rel=1e-6, abs_tol=1e-9),
            f"after loss.backward(), the logits' gradients are {fmt(got['grads'])}; expected "
            f"(softmax - onehot) / T = {fmt(want['grads'])}",
            "Build the loss from Value operations only (exp, log, +, -, /), never from .data.",
        )


def test_large_logits_do_not_overflow(student: Subject, reference: Subject) -> None:
    """Logits near +-800 give a finite, correct loss (stable softmax)"""
    got, want = _both(student, reference, *LARGE)
    expect(
        math.isfinite(got["loss"]) and close(got["loss"], want["loss"], rel=1e-7),
        f"with logits near 800 the loss is {got['loss']}; expected {want['loss']:.6g}",
        "Subtract each row's max logit (a plain float, z.data) before exp(); "
        "math.exp(800) overflows.",
    )
