"""Check `cross_entropy`: value and gradient of mean(logsumexp(z) - z[y]), and stability.

False failures: none; the values are exact up to rounding (tolerance 1e-6).
"""

from __future__ import annotations

import pytest

from grader.judge.remote import Student
from grader.suite.suite_support import close, cross_entropy, expect, fmt

pytestmark = pytest.mark.check("cross_entropy")

T, V = 4, 5
FORMULA_HINT = (
    "Per position: logsumexp(z) - z[target], with the max subtracted before exp; then "
    "average over the positions (divide by T)."
)


def _case(student: Student, name: str, scale: float) -> tuple[list[list[float]], list[int]]:
    """Random logits; with a large scale each target sits near its row's maximum.

    Near the maximum, so that the lesson's recipe (softmax with the max
    subtracted, then -log p[target]) passes too: far below it, p[target]
    underflows to 0 however the softmax is written. Overflow, the bug this
    case is about, shows either way.
    """
    rng = student.rng(name)
    logits = [[rng.uniform(-scale, scale) for _ in range(V)] for _ in range(T)]
    targets = [rng.randrange(V) for _ in range(T)]
    if scale > 100:
        for row, y in zip(logits, targets, strict=True):
            top = max(range(V), key=row.__getitem__)
            row[top] = scale - rng.uniform(0.0, 2.0)  # exp() of it overflows unless shifted
            if y != top:
                row[y] = row[top] - rng.uniform(0.0, 5.0)
    return logits, targets


def _measured(student: Student, name: str, scale: float) -> tuple[float, list[list[float]]]:
    def run() -> tuple[float, list[list[float]]]:
        logits, targets = _case(student, name, scale)
        loss, out = student.loss(logits, targets)
        out.backward(1.0)
        return loss, out.input_grads()

    return student.measure(name, run)


def test_value_matches(student: Student) -> None:
    """The loss equals the mean over positions of logsumexp(z) - z[target]"""
    logits, targets = _case(student, "cross_entropy.plain", 3.0)
    want, _ = cross_entropy(logits, targets)
    got, _ = _measured(student, "cross_entropy.plain", 3.0)
    hint = FORMULA_HINT
    if abs(got - want * T) < 1e-6 * T:
        hint = "Your loss is the SUM over positions: divide by the number of positions."
    expect(
        close(got, want, rel=1e-6), f"cross_entropy_loss gave {got:.6g}; expected {want:.6g}", hint
    )


def test_gradient_matches(student: Student) -> None:
    """The loss's gradient with respect to the logits is (softmax - onehot) / T"""
    logits, targets = _case(student, "cross_entropy.plain", 3.0)
    _, want = cross_entropy(logits, targets)
    _, got = _measured(student, "cross_entropy.plain", 3.0)
    expect(
        close(got, want, rel=1e-5, abs_tol=1e-9),
        f"d loss / d logits[0] is {fmt(got[0])}; expected (softmax - onehot) / T = {fmt(want[0])}",
        "Build the loss from Value operations on the logits you were given, so backward "
        "reaches them.",
    )


def test_large_logits_do_not_overflow(student: Student) -> None:
    """Logits near +-800 (targets near the maximum) give the right finite loss: no overflow"""
    logits, targets = _case(student, "cross_entropy.large", 800.0)
    want, _ = cross_entropy(logits, targets)
    got, _ = _measured(student, "cross_entropy.large", 800.0)
    expect(
        close(got, want, rel=1e-6),
        f"with logits near +-800 the loss is {got:.6g}; expected {want:.6g}",
        "math.exp(800) overflows: subtract each row's largest logit before exp.",
    )
