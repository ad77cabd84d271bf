"""Check `gradients`: backward's gradients are finite, reach the weights, and are right.

The judge sets the weights at random (so no initialisation can hide a cut
graph), computes the loss itself from the logits, asks the worker to
backpropagate dL/dlogits, and compares the gradients with finite
differences of its own loss along random directions. A ReLU kink inside the
step would spoil a central difference, so each direction is tried with three
step sizes, central and one-sided, and passes when any of them agrees: a wrong
gradient disagrees with all.

False failures: a correct gradient agrees with the central difference up to
O(step^2) and with the one-sided one on a kink's far side up to O(step), both far
inside the 1% tolerance; a kink closer to the point than the smallest step spoils
the central difference and one side only. No random draw can make all fail.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from grader.judge.remote import Student
from grader.suite.suite_support import SMALL, cross_entropy, expect, model, randomize
from grader.suite.test_attention import softmax_attention

pytestmark = pytest.mark.check("gradients")

DIRECTIONS = 6
SINGLES = 6
STEPS = (1e-5, 1e-4, 1e-6)
CUT_HINT = (
    "A gradient is missing somewhere: a Value(x.data) copy, a float taken from .data, or "
    "a value computed outside the graph cuts backward off from the weights before it."
)


def agree(analytic: float, numeric: float) -> bool:
    return abs(analytic - numeric) <= 1e-6 + 1e-2 * max(abs(analytic), abs(numeric))


def measure(student: Student) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        rng = student.rng("gradients")
        gpt = model(student, rng, SMALL)
        theta = randomize(gpt, rng, 0.5)
        n, v = SMALL["max_seq_len"], SMALL["vocab_size"]
        ids = [rng.randrange(v) for _ in range(n)]
        targets = [rng.randrange(v) for _ in range(n)]
        out = gpt.forward(ids, tokens=True, keep=True)
        _, dlogits = cross_entropy(out.data, targets)
        out.backward(dlogits)
        grads = gpt.grads()
        nonfinite = sum(1 for g in grads if not math.isfinite(g))
        result: dict[str, Any] = {
            "count": len(grads),
            "nonfinite": nonfinite,
            "nonzero": sum(1 for g in grads if g != 0.0),
            "mismatches": [],
            "zero_rate": 0.0,
            "kinked": 0,
        }
        if nonfinite or not grads:
            return result

        base = cross_entropy(out.data, targets)[0]

        def numeric(directions: list[dict[int, float]], analytic: list[float]) -> list[float]:
            """The loss's rate of change along each direction: the first difference that
            agrees with the analytic rate, else the last step's central difference.

            Per step: the central difference, and the two one-sided ones. A ReLU kink
            within the step spoils the central one and the side that crosses it, never
            the other side, so a correct gradient always agrees with one of them (even
            with a kink closer to the point than the smallest step), and a wrong one
            with none. The step up is tried first: where its one-sided difference
            already agrees, the step down cannot change the verdict and is not run (it
            usually agrees, halving the forwards). Every direction still open is moved
            in one exchange per side."""
            found = [math.nan] * len(directions)
            pending = list(range(len(directions)))

            def moved(direction: dict[int, float], by: float) -> list[float]:
                data = list(theta)
                for i, w in direction.items():
                    data[i] += by * w
                return data

            def losses(ks: list[int], by: float) -> list[float]:
                outs = gpt.forward_with((moved(directions[k], by) for k in ks), ids, tokens=True)
                return [cross_entropy(out.data, targets)[0] for out in outs]

            for step in STEPS:
                ups = dict(zip(pending, losses(pending, step), strict=True))
                for k, up in ups.items():
                    found[k] = (up - base) / step
                pending = [k for k in pending if not agree(analytic[k], found[k])]
                downs = losses(pending, -step) if pending else []
                for k, down in zip(pending, downs, strict=True):
                    up = ups[k]
                    rates = ((up - down) / (2 * step), (up - base) / step, (base - down) / step)
                    found[k] = next((r for r in rates if agree(analytic[k], r)), rates[0])
                    if found[k] == rates[2] != rates[0] and agree(analytic[k], rates[2]):
                        result["kinked"] += 1  # only the side away from a kink agreed
                pending = [k for k in pending if not agree(analytic[k], found[k])]
                if not pending:
                    break
            return found

        everything = range(len(theta))
        checks = [{i: rng.choice((-1.0, 1.0)) for i in everything} for _ in range(DIRECTIONS)]
        nonzero = [i for i in everything if grads[i] != 0.0]
        checks += [{i: 1.0} for i in rng.sample(nonzero, min(SINGLES, len(nonzero)))]
        zero = {i: rng.choice((-1.0, 1.0)) for i in everything if grads[i] == 0.0}
        analytic = [sum(grads[i] * w for i, w in direction.items()) for direction in checks]
        rates = numeric([*checks, zero] if zero else checks, [*analytic, 0.0])
        for direction, expected, found in zip(checks, analytic, rates, strict=False):
            if not agree(expected, found):
                result["mismatches"].append([expected, found, len(direction)])
        if zero:
            result["zero_rate"] = rates[-1]
            result["zero_count"] = len(zero)
        gpt.set_params(theta)
        return result

    return student.measure("gradients", run, budget=3.0)


def test_gradients_finite_and_nonzero(student: Student) -> None:
    """After loss.backward(), every gradient is finite and most are non-zero"""
    result = measure(student)
    expect(
        result["nonfinite"] == 0,
        f"{result['nonfinite']} parameter gradients are inf or nan after backward",
        "Look for a division by zero or an exp() of a large number in the forward pass.",
    )
    n = result["count"]
    expect(n > 0, "MiniGPT.parameters() is empty")
    share = result["nonzero"] / n
    expect(
        share >= 0.5,
        f"only {result['nonzero']} of {n} parameters ({share:.0%}) got a non-zero gradient "
        "from a loss over every position",
        CUT_HINT,
    )


def test_gradients_match_finite_differences(student: Student) -> None:
    """Gradients agree with finite differences of the loss along random directions"""
    result = measure(student)
    expect(result["nonfinite"] == 0 and result["count"] > 0, "the gradients could not be checked")
    if not softmax_attention(student):
        return  # attention is no softmax (exp(s) - max has a kinked max): reported there
    if result["mismatches"]:
        analytic, numeric, size = result["mismatches"][0]
        what = "one parameter" if size == 1 else f"{size} parameters together"
        expect(
            False,
            f"moving {what} changes the loss at a rate of {numeric:.6g}, but the gradients "
            f"predict {analytic:.6g} ({len(result['mismatches'])} of the directions tried "
            "disagree)",
            CUT_HINT,
        )
    rate = result["zero_rate"]
    expect(
        math.isfinite(rate) and abs(rate) <= 1e-5,
        f"{result.get('zero_count', 0)} parameters have a gradient of exactly 0, yet changing "
        f"them changes the loss (rate {rate:.3g}): backward does not reach them",
        CUT_HINT,
    )
