"""cross_entropy_loss on a small example you can check by hand."""

from __future__ import annotations

import math

from engine import Value
from minigpt import cross_entropy_loss


def test_worked_example() -> None:
    # Position 0: logits [0, ln 3] -> softmax [1/4, 3/4]; target 0 -> -ln(1/4) = ln 4
    # Position 1: logits [0, 0]    -> softmax [1/2, 1/2]; target 1 -> -ln(1/2) = ln 2
    # Mean: (ln 4 + ln 2) / 2 = 1.5 ln 2
    logits = [[Value(0.0), Value(math.log(3.0))], [Value(0.0), Value(0.0)]]
    loss = cross_entropy_loss(logits, [0, 1])
    assert isinstance(loss, Value), "return a single Value, so loss.backward() works"
    assert math.isclose(loss.data, 1.5 * math.log(2.0), rel_tol=1e-9), loss.data

    # The gradient with respect to logits is (softmax - one_hot(target)) / T, T = 2
    loss.backward()
    grads = [[v.grad for v in row] for row in logits]
    expected = [[(0.25 - 1.0) / 2, 0.75 / 2], [0.5 / 2, (0.5 - 1.0) / 2]]
    for got, want in zip(grads, expected):
        assert all(math.isclose(g, w, abs_tol=1e-9) for g, w in zip(got, want)), (
            grads,
            expected,
        )


def test_large_logits_stay_finite() -> None:
    # Without subtracting the maximum, exp(1000) overflows.
    logits = [[Value(1000.0), Value(0.0), Value(-1000.0)]]
    loss = cross_entropy_loss(logits, [0])
    assert math.isclose(loss.data, 0.0, abs_tol=1e-9), "the right class dominates: loss ~ 0"
    # A target close to the maximum: -log(e^999 / (e^1000 + e^999 + e^-1000)) = log(1 + e^-1)
    close = [[Value(1000.0), Value(999.0), Value(-1000.0)]]
    loss = cross_entropy_loss(close, [1])
    assert math.isclose(loss.data, 1.0 + math.log(1.0 + math.exp(-1.0)), rel_tol=1e-9), loss.data
