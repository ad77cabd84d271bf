"""Check `feedforward`: hidden size 4*D by default, hidden_dim honoured, not affine."""

from __future__ import annotations

import random

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import expect

pytestmark = pytest.mark.check("feedforward")


def _counts(d: int, h: int) -> set[int]:
    """Parameter counts of Linear(d, h) + Linear(h, d), with or without each bias."""
    weights = 2 * d * h
    return {weights, weights + h, weights + d, weights + h + d}


def _count(student: Subject, d: int, **kwargs: int) -> int:
    result = student.run("run_module", component="FeedForward", args=[d], kwargs=kwargs, inputs=[])
    return int(result["num_params"])


def test_hidden_size_defaults_to_4d(student: Subject) -> None:
    """Without hidden_dim the hidden layer has 4 * embed_dim units"""
    for d in (4, 3):
        n = _count(student, d)
        expect(
            n in _counts(d, 4 * d),
            f"FeedForward({d}) has {n} parameters; two Linear layers {d}->{4 * d}->{d} have "
            f"{min(_counts(d, 4 * d))} weights (+ biases)",
            "hidden_dim defaults to 4 * embed_dim when it is None.",
        )


def test_hidden_dim_is_honoured(student: Subject) -> None:
    """hidden_dim sets the hidden layer's size"""
    for d, h in ((3, 10), (4, 6)):
        n = _count(student, d, hidden_dim=h)
        expect(
            n in _counts(d, h),
            f"FeedForward({d}, hidden_dim={h}) has {n} parameters; layers {d}->{h}->{d} have "
            f"{min(_counts(d, h))} weights (+ biases)",
            "Use hidden_dim for the hidden layer when it is given.",
        )


def test_not_affine(student: Subject) -> None:
    """There is a non-linearity between the two layers"""
    rng = random.Random(11)
    d = 6
    pairs = [
        ([rng.uniform(-2, 2) for _ in range(d)], [rng.uniform(-2, 2) for _ in range(d)])
        for _ in range(4)
    ]
    inputs = [[0.0] * d]
    for x, y in pairs:
        inputs += [x, y, [a + b for a, b in zip(x, y, strict=True)]]
    out = student.run("run_module", component="FeedForward", args=[d], inputs=inputs)["outputs"]
    f0 = out[0]["data"]
    worst = 0.0
    for k in range(len(pairs)):
        fx, fy, fxy = (out[1 + 3 * k + i]["data"] for i in range(3))
        gap = max(abs(a + b - c - z) for a, b, c, z in zip(fx, fy, fxy, f0, strict=True))
        worst = max(worst, gap)
    expect(
        worst > 1e-3,
        "FeedForward behaves like an affine map: f(x) + f(y) - f(0) equals f(x + y) for every "
        "input tried",
        "Apply an activation (ReLU, GELU or tanh) to the hidden layer.",
    )
