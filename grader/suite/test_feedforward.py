"""Check `feedforward`: Linear -> activation -> Linear, hidden size 4 * D by default.

The structure is tested on weights the judge sets at random, so it holds for
any initialisation and any activation (ReLU, GELU, tanh, SiLU, written with exp
or not: every probe keeps the hidden pre-activations within about +-10, the
range a model's own normalised inputs give, where no exp overflows):
- not affine: f((a + b) / 2) differs from (f(a) + f(b)) / 2;
- with hidden_dim=1 too (every hidden unit is activated): its unit's kink or
  curve lies in the box [-3, 3]^D unless |b| > 3 |w|_1, probability 6e-4 per
  draw; at the 16 corners and the centre, a pair of opposite corners then
  straddles it. A draw that does not show it is redrawn (3 draws: 2e-10);
- the activation is between the layers, not before the first: an activation
  applied to x itself makes f additively separable in the coordinates of x
  (mixed second differences vanish);
- nor after the second: then each output is a function of one direction of x
  only, so its gradient keeps its direction as x moves;
- nor after both: the outputs are not confined to an activation's range (some
  output below -0.5, some beyond +-1.5), which a correct layer with random
  weights shows on all but a small share of draws (redrawn: 4 draws).

False failures: each structure test looks for an effect every correct layer shows
on random weights except on a set of draws (a kink no probe pair straddles, a
probe that misses it). Simulated with ReLU, the worst case: no miss in 20,000
draws for the curvature and separability probes, 4e-4 per draw for the range
probe (GELU 3e-4, tanh 7e-5); the single unit misses with 6e-4. A test fails only
when all its independent draws miss (3, or 4 for the range): below 1e-9 per
grading for each test.
"""

from __future__ import annotations

import math
import random

import pytest

from grader.judge.remote import Remote, Student
from grader.suite.suite_support import build, expect, informative, randomize, scale_of

pytestmark = pytest.mark.check("feedforward")

D = 4
TRIALS = 6
DRAWS = 3  # draws of the weights before a structure test fails (see informative)
STRUCTURE_HINT = (
    "FeedForward is Linear(D, hidden) -> activation -> Linear(hidden, D): the activation "
    "goes on the hidden vector, between the two layers."
)


def _counts(d: int, h: int) -> set[int]:
    """Parameter counts of Linear(d, h) + Linear(h, d), with or without each bias."""
    weights = 2 * d * h
    return {weights, weights + h, weights + d, weights + h + d}


def _count(student: Student, d: int, **kwargs: int) -> int:
    rng = student.rng(f"feedforward.count.{d}.{kwargs}")
    return build(student, rng, "FeedForward", d, **kwargs).count().distinct


def test_hidden_size_defaults_to_4d(student: Student) -> None:
    """Without hidden_dim the hidden layer has 4 * embed_dim units"""
    for d in (4, 3):
        n = _count(student, d)
        expect(
            n in _counts(d, 4 * d),
            f"FeedForward({d}) has {n} parameters; two Linear layers {d}->{4 * d}->{d} have "
            f"{min(_counts(d, 4 * d))} weights (+ biases)",
            "hidden_dim defaults to 4 * embed_dim when it is None.",
        )


def test_hidden_dim_is_honoured(student: Student) -> None:
    """hidden_dim sets the hidden layer's size"""
    for d, h in ((3, 10), (4, 6)):
        n = _count(student, d, hidden_dim=h)
        expect(
            n in _counts(d, h),
            f"FeedForward({d}, hidden_dim={h}) has {n} parameters; layers {d}->{h}->{d} have "
            f"{min(_counts(d, h))} weights (+ biases)",
            "Use hidden_dim for the hidden layer when it is given.",
        )


def _point(rng: random.Random, spread: float = 2.0) -> list[float]:
    return [rng.uniform(-spread, spread) for _ in range(D)]


def _curvature(ff: Remote, rng: random.Random, trials: int, spread: float = 2.0) -> float:
    """The largest relative gap between f((a + b) / 2) and (f(a) + f(b)) / 2."""
    points = []
    for _ in range(trials):
        a, b = _point(rng, spread), _point(rng, spread)
        points += [a, b, [(x + y) / 2 for x, y in zip(a, b, strict=True)]]
    outs = [out.data for out in ff.forward_many(points)]
    worst = 0.0
    for fa, fb, fm in zip(outs[0::3], outs[1::3], outs[2::3], strict=True):
        gap = max(abs(m - (x + y) / 2) for m, x, y in zip(fm, fa, fb, strict=True))
        worst = max(worst, gap / (1e-12 + scale_of(fa, fb)))
    return worst


def test_not_affine(student: Student) -> None:
    """The map is not affine: there is a non-linearity (on every hidden unit)"""

    def attempt(rng: random.Random) -> bool:
        ff = student.build("FeedForward", D, seed=rng.randrange(2**31))
        randomize(ff, rng, 1.0)
        return _curvature(ff, rng, TRIALS) > 1e-6

    name = "feedforward.affine"
    expect(
        student.measure(name, lambda: informative(attempt, student.rng(name), DRAWS)),
        "FeedForward is affine: f((a + b) / 2) equals (f(a) + f(b)) / 2 for random weights and "
        "inputs, so the block adds no non-linearity",
        "Apply ReLU, GELU or tanh to the hidden vector, between the two Linear layers.",
    )
    expect(
        _single_unit_is_activated(student),
        "FeedForward(4, hidden_dim=1) is affine for random weights and inputs: its one hidden "
        "unit gets no activation",
        "Apply the activation to every hidden unit (all of the first layer's outputs).",
    )


def _single_unit_is_activated(student: Student) -> bool:
    """Does FeedForward(D, hidden_dim=1) curve between opposite corners of [-3, 3]^D on
    one of 3 draws of its weights (N(0, 0.09): pre-activations of a few units)?"""

    def attempt(rng: random.Random) -> bool:
        ff = student.build("FeedForward", D, hidden_dim=1, seed=rng.randrange(2**31))
        randomize(ff, rng, 0.3)
        corners = [[3.0 if (c >> i) & 1 else -3.0 for i in range(D)] for c in range(2**D)]
        outs = [o.data for o in ff.forward_many([[0.0] * D, *corners])]
        centre, rest = outs[0], outs[1:]
        for c in range(2 ** (D - 1)):  # corner c and its opposite, 2**D - 1 - c
            far = rest[2**D - 1 - c]
            gap = max(abs(m - (x + y) / 2) for m, x, y in zip(centre, rest[c], far, strict=True))
            if gap > 1e-6 * (1e-12 + scale_of(centre, rest[c], far)):
                return True
        return False

    name = "feedforward.affine.one"
    return student.measure(name, lambda: informative(attempt, student.rng(name), 3))


def test_output_is_not_squashed(student: Student) -> None:
    """The second Linear layer's output is returned as it is (no activation after it)"""

    def attempt(rng: random.Random) -> bool:
        ff = student.build("FeedForward", D, seed=rng.randrange(2**31))
        randomize(ff, rng, 1.0)
        outs = [v for o in ff.forward_many([_point(rng) for _ in range(8)]) for v in o.data]
        return min(outs) < -0.5 and max(abs(v) for v in outs) > 1.5

    name = "feedforward.range"
    expect(
        student.measure(name, lambda: informative(attempt, student.rng(name), 4)),
        "for random weights and inputs, FeedForward's outputs never go below -0.5, or never "
        "beyond +-1.5: an activation (ReLU, tanh...) squashes the second layer's output too",
        STRUCTURE_HINT,
    )


def test_activation_not_before_first_layer(student: Student) -> None:
    """The activation acts on the hidden vector, not on the input"""

    def attempt(rng: random.Random) -> bool:
        ff = student.build("FeedForward", D, seed=rng.randrange(2**31))
        randomize(ff, rng, 1.0)
        points = []
        for _ in range(TRIALS):
            x = _point(rng)
            i, j = rng.sample(range(D), 2)
            step_i, step_j = rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5)
            for di, dj in ((0, 0), (step_i, 0), (0, step_j), (step_i, step_j)):
                y = list(x)
                y[i] += di
                y[j] += dj
                points.append(y)
        outs = [out.data for out in ff.forward_many(points)]
        worst = 0.0
        for k in range(0, len(outs), 4):
            f00, f10, f01, f11 = outs[k : k + 4]
            mixed = max(abs(a - b - c + d) for a, b, c, d in zip(f11, f10, f01, f00, strict=True))
            worst = max(worst, mixed / (1e-12 + scale_of(f00, f10, f01, f11)))
        return worst > 1e-6

    name = "feedforward.separable"
    expect(
        student.measure(name, lambda: informative(attempt, student.rng(name), DRAWS)),
        "FeedForward's output is a sum of separate functions of each input coordinate: the "
        "activation is applied to x before the first Linear layer",
        STRUCTURE_HINT,
    )


def _direction(ff: Remote, x: list[float], output: int) -> list[float] | None:
    """The unit direction of d f[output] / dx, or None where that gradient (nearly) vanishes."""
    weights = [1.0 if k == output else 0.0 for k in range(D)]
    _, grads = ff.input_gradient(x, weights)
    grad = [float(g) for g in grads]
    norm = math.sqrt(sum(g * g for g in grad))
    return [g / norm for g in grad] if norm > 1e-6 else None


def _backward_agrees(ff: Remote, rng: random.Random) -> bool:
    """Does FeedForward's backward agree with a finite difference at one point? (A graph
    cut by .data gives no input gradient at all: the gradients check names that, and the
    direction test below would only misname it.) Central or one-sided, as a kink allows."""
    x, u = _point(rng), _point(rng, 1.0)
    step = 1e-5
    _, grads = ff.input_gradient(x, [1.0] + [0.0] * (D - 1))
    analytic = sum(float(g) * w for g, w in zip(grads, u, strict=True))
    moved = [[a + by * w for a, w in zip(x, u, strict=True)] for by in (step, -step, 0.0)]
    up, down, here = (o.data[0] for o in ff.forward_many(moved))
    rates = ((up - down) / (2 * step), (up - here) / step, (here - down) / step)
    return any(abs(r - analytic) <= 1e-6 + 1e-3 * max(abs(r), abs(analytic)) for r in rates)


def test_activation_not_after_second_layer(student: Student) -> None:
    """The second Linear layer comes after the activation (its output is not squashed)"""

    def attempt(rng: random.Random) -> bool:
        ff = student.build("FeedForward", D, seed=rng.randrange(2**31))
        randomize(ff, rng, 0.5)
        if not _backward_agrees(ff, rng):
            return True  # backward is wrong through FeedForward: the gradients check says so
        worst = 0.0
        for _ in range(4 * TRIALS):
            output = rng.randrange(D)
            a = _direction(ff, _point(rng), output)
            b = _direction(ff, _point(rng), output)
            if a is None or b is None:
                continue  # a flat spot (a ReLU off, a saturated tanh) says nothing either way
            cosine = abs(sum(x * y for x, y in zip(a, b, strict=True)))
            worst = max(worst, 1.0 - cosine)
        return worst > 1e-6

    name = "feedforward.ridge"
    expect(
        student.measure(name, lambda: informative(attempt, student.rng(name), DRAWS)),
        "each FeedForward output depends on the input through one fixed direction only: the "
        "activation is applied after the second Linear layer",
        STRUCTURE_HINT,
    )
