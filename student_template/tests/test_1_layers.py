"""Embedding, LayerNorm and FeedForward."""

from __future__ import annotations

import math
import random

import pytest
from engine import Value
from helpers import (
    after,
    check_keeps_its_weights,
    distinct,
    expect,
    matrix_of,
    numbers,
    numbers_of,
    parameters_of,
    randomize,
    same,
    set_all,
    values,
    vector_of,
)
from minigpt import Embedding, FeedForward, LayerNorm

# --------------------------------------------------------------------------
# Embedding

EMBEDDING_SHAPE = "Embedding(V, D)(indices) gives one row of D Values per index: (T, D)."
LOOKUP = (
    "Create the table once, in __init__ (num_embeddings rows of embedding_dim Values), and "
    "return the table's own Value objects for each index: no copies, no arithmetic."
)


@pytest.mark.covers("shapes", "embedding")
def test_embedding_shape() -> None:
    """Embedding returns one row of embedding_dim Values per index."""
    emb = Embedding(7, 5)
    matrix_of(emb([1, 0, 6, 1]), 4, 5, "Embedding(7, 5)([1, 0, 6, 1])", EMBEDDING_SHAPE)


@pytest.mark.covers("embedding", "parameters")
def test_embedding_keeps_its_weights() -> None:
    """The table is made once and listed by parameters(); the same ids give the same rows."""
    after("test_embedding_shape")
    emb = Embedding(6, 4)
    check_keeps_its_weights(emb, lambda: numbers_of(emb([0, 2, 5])), "Embedding(6, 4)")


@pytest.mark.covers("embedding")
def test_embedding_is_a_lookup_table() -> None:
    """The table holds V * D weights, and each output row is the table's row for its index."""
    after("test_embedding_shape", "test_embedding_keeps_its_weights")
    rng = random.Random(1)
    emb = Embedding(6, 4)
    params = parameters_of(emb, "Embedding(6, 4)")
    expect(
        distinct(params) == 6 * 4,
        f"Embedding(6, 4).parameters() lists {distinct(params)} different Values",
        "6 rows of 4 Values: 24 parameters",
        LOOKUP,
    )
    randomize(emb, rng)  # every entry now has a value of its own
    ids = [2, 5, 2, 0, 3]
    first = matrix_of(emb(ids), 5, 4, f"Embedding(6, 4)({ids})", EMBEDDING_SHAPE)
    table = {p.data: i for i, p in enumerate(params)}
    sources = [[table.get(x) for x in row] for row in first]
    expect(
        all(i is not None for row in sources for i in row),
        "after the table was set to new values through parameters(), some output entries "
        "are not entries of the table",
        "every output entry to be one of the table's Values",
        LOOKUP,
    )
    expect(
        sources[0] == sources[2] and sources[0] != sources[1],
        "index 2 gave two different rows in one call, or indices 2 and 5 gave the same row",
        "the same row for the same index, different rows for different indices",
        LOOKUP,
    )
    second = matrix_of(emb(ids[::-1]), 5, 4, f"Embedding(6, 4)({ids[::-1]})", EMBEDDING_SHAPE)
    expect(
        same(second, first[::-1], 0.0),
        "the row of an index changed from one call to the next",
        "the same row for an index in every call",
        LOOKUP,
    )


@pytest.mark.covers("embedding")
def test_embedding_gradient_reaches_the_rows_used() -> None:
    """backward() gives each looked-up entry the sum of its output gradients, other rows 0."""
    after("test_embedding_shape", "test_embedding_keeps_its_weights")
    rng = random.Random(2)
    emb = Embedding(6, 3)
    params = randomize(emb, rng)
    ids = [1, 4, 4]
    out = emb(ids)
    matrix_of(out, 3, 3, f"Embedding(6, 3)({ids})", EMBEDDING_SHAPE)
    weights = [[rng.uniform(-1.0, 1.0) for _ in range(3)] for _ in ids]
    for p in params:
        p.grad = 0.0
    Value.sum([Value.dot(w, row) for w, row in zip(weights, out)]).backward()
    where = {p.data: i for i, p in enumerate(params)}
    want = [0.0] * len(params)
    for row, w_row in zip(out, weights):
        for v, w in zip(row, w_row):
            if v.data in where:
                want[where[v.data]] += w
    got = [p.grad for p in params]
    expect(
        same(got, want, 1e-9),
        "after backward() from a weighted sum of the rows, the table's gradients are "
        f"{numbers(got, 6)}",
        f"each entry used to get the sum of its weights, unused rows 0: {numbers(want, 6)}",
        "Return the table's own Values (not new ones such as Value(v.data)), so that "
        "backward() reaches them.",
    )


# --------------------------------------------------------------------------
# LayerNorm

LN_FORMULA = "(x - mean) / sqrt(var + eps)"


def layernorm_formula(x: list[float], eps: float) -> list[float]:
    mean = sum(x) / len(x)
    var = sum((v - mean) ** 2 for v in x) / len(x)
    return [(v - mean) / math.sqrt(var + eps) for v in x]


def layernorm_mistake(x: list[float], eps: float, got: list[float]) -> str:
    """Which usual wrong formula `got` matches, as advice."""
    n = len(x)
    mean = sum(x) / n
    pop = sum((v - mean) ** 2 for v in x) / n
    wrong = {
        "the sample variance (dividing by D - 1 instead of D)": [
            (v - mean) / math.sqrt(sum((u - mean) ** 2 for u in x) / (n - 1) + eps) for v in x
        ],
        "eps added outside the square root": [(v - mean) / (math.sqrt(pop) + eps) for v in x],
        "a division by the variance instead of its square root": [
            (v - mean) / (pop + eps) for v in x
        ],
        "no mean subtraction": [v / math.sqrt(pop + eps) for v in x],
        "the default eps 1e-5 instead of the eps argument": layernorm_formula(x, 1e-5),
        "a variance taken around 0 instead of around the mean": [
            (v - mean) / math.sqrt(sum(u * u for u in x) / n + eps) for v in x
        ],
    }
    for name, formula in wrong.items():
        if formula != layernorm_formula(x, eps) and same(got, formula, 1e-4):
            return f"Your output matches {name}."
    return (
        f"Compute {LN_FORMULA} with the population variance (divide by D) and eps inside the "
        "square root; at the start gain is 1 and bias is 0 (if your LayerNorm has them)."
    )


@pytest.mark.covers("layernorm")
@pytest.mark.parametrize("eps", [None, 0.5])
def test_layernorm_formula(eps: float | None) -> None:
    """A new LayerNorm computes (x - mean) / sqrt(var + eps), with its eps (1e-5 by default)."""
    rng = random.Random(3)
    norm = LayerNorm(5) if eps is None else LayerNorm(5, eps=eps)
    used = 1e-5 if eps is None else eps
    call = "LayerNorm(5)" if eps is None else f"LayerNorm(5, eps={eps})"
    inputs = [
        [1.0, 2.0, 3.0, 6.0, -2.0],
        [10.0 + rng.uniform(-1.0, 1.0) for _ in range(5)],  # far from 0: the mean matters
        [1.0 + rng.uniform(-2e-3, 2e-3) for _ in range(5)],  # tiny variance: eps matters
    ]
    for x in inputs:
        got = vector_of(norm(values(x)), 5, f"{call} on a vector of 5", "LayerNorm maps D to D.")
        want = layernorm_formula(x, used)
        expect(
            same(got, want, 1e-5),
            f"{call}({numbers(x)}) returned {numbers(got)}",
            f"{LN_FORMULA} = {numbers(want)}",
            layernorm_mistake(x, used, got),
        )


@pytest.mark.covers("parameters")
def test_layernorm_keeps_its_weights() -> None:
    """Whatever LayerNorm keeps (a gain and a bias, or nothing) is listed by parameters()."""
    norm = LayerNorm(4)
    x = values([0.5, -1.0, 2.0, 0.25])
    check_keeps_its_weights(norm, lambda: numbers_of(norm(x)), "LayerNorm(4)")


@pytest.mark.covers("layernorm")
def test_layernorm_of_a_constant_vector() -> None:
    """A constant vector normalises to zeros: eps keeps the division finite."""
    got = vector_of(LayerNorm(4)(values([2.5] * 4)), 4, "LayerNorm(4)", "LayerNorm maps D to D.")
    expect(
        same(got, [0.0] * 4, 1e-6),
        f"LayerNorm(4) of the constant vector [2.5, 2.5, 2.5, 2.5] returned {numbers(got)}",
        "four zeros",
        "Keep eps inside the square root: sqrt(var + eps) is never 0.",
    )


# --------------------------------------------------------------------------
# FeedForward

FF_SHAPE = "FeedForward maps a vector of D Values to a vector of D Values."
FF_STRUCTURE = (
    "FeedForward is Linear(D, H) -> activation -> Linear(H, D): the activation (ReLU, GELU "
    "or tanh) goes on every hidden unit, between the two layers."
)


def linear_pair_sizes(d: int, h: int) -> set[int]:
    """Parameter counts of Linear(d, h) then Linear(h, d): weights, plus either bias or both."""
    weights = d * h + h * d
    return {weights, weights + h, weights + d, weights + h + d}


@pytest.mark.covers("shapes", "feedforward")
def test_feedforward_shape() -> None:
    """FeedForward maps D values to D values, with or without hidden_dim."""
    x = [0.1, -0.2, 0.3, 0.0, 0.5, -1.0]
    vector_of(FeedForward(6)(values(x)), 6, "FeedForward(6) on a vector of 6", FF_SHAPE)
    small = FeedForward(6, hidden_dim=3)
    vector_of(small(values(x)), 6, "FeedForward(6, hidden_dim=3) on a vector of 6", FF_SHAPE)


@pytest.mark.covers("parameters")
def test_feedforward_keeps_its_weights() -> None:
    """FeedForward's weights are made once and listed by parameters()."""
    after("test_feedforward_shape")
    ff = FeedForward(4)
    x = values([0.5, -1.0, 2.0, 0.25])
    check_keeps_its_weights(ff, lambda: numbers_of(ff(x)), "FeedForward(4)")


@pytest.mark.covers("residual")
def test_feedforward_adds_no_residual_of_its_own() -> None:
    """FeedForward with all parameters 0 outputs zeros: the block adds the residual."""
    after("test_feedforward_shape", "test_feedforward_keeps_its_weights")
    ff = FeedForward(4)
    set_all(ff, 0.0)
    x = [0.5, -1.0, 2.0, 0.25]
    got = vector_of(ff(values(x)), 4, "FeedForward(4)", FF_SHAPE)
    expect(
        same(got, [0.0] * 4, 1e-12),
        f"FeedForward with every parameter 0 turned {numbers(x)} into {numbers(got)}",
        "zeros",
        "The residual connection belongs to TransformerBlock alone: FeedForward returns only "
        "its own output, and the block adds it to x.",
    )


@pytest.mark.covers("feedforward")
@pytest.mark.parametrize(("d", "hidden"), [(6, None), (4, None), (6, 3), (3, 10)])
def test_feedforward_hidden_size(d: int, hidden: int | None) -> None:
    """The hidden layer has hidden_dim units, 4 * embed_dim when hidden_dim is None."""
    after("test_feedforward_shape", "test_feedforward_keeps_its_weights")
    h = 4 * d if hidden is None else hidden
    call = f"FeedForward({d})" if hidden is None else f"FeedForward({d}, hidden_dim={hidden})"
    count = distinct(parameters_of(FeedForward(d, hidden_dim=hidden), call))
    expect(
        count in linear_pair_sizes(d, h),
        f"{call} has {count} parameters",
        f"two Linear layers {d} -> {h} -> {d}: {2 * d * h} weights, plus the biases if "
        f"they have them ({sorted(linear_pair_sizes(d, h))})",
        "The hidden size is hidden_dim when it is given, else 4 * embed_dim.",
    )


def curvature(ff: FeedForward, rng: random.Random, trials: int, spread: float) -> float:
    """The largest relative gap between f((a + b) / 2) and (f(a) + f(b)) / 2."""
    worst = 0.0
    for _ in range(trials):
        a = [rng.uniform(-spread, spread) for _ in range(4)]
        b = [rng.uniform(-spread, spread) for _ in range(4)]
        mid = [(x + y) / 2 for x, y in zip(a, b)]
        fa, fb, fm = ([v.data for v in ff(values(p))] for p in (a, b, mid))
        size = max(abs(v) for v in fa + fb) + 1e-12
        worst = max(worst, max(abs(m - (x + y) / 2) for m, x, y in zip(fm, fa, fb)) / size)
    return worst


@pytest.mark.covers("feedforward")
def test_feedforward_is_not_linear() -> None:
    """With random weights FeedForward is not an affine map: every hidden unit is activated."""
    after("test_feedforward_shape", "test_feedforward_keeps_its_weights")
    rng = random.Random(4)
    ff = FeedForward(4)
    randomize(ff, rng)
    expect(
        curvature(ff, rng, 6, 2.0) > 1e-6,
        "with random weights, FeedForward(4) maps the midpoint of two inputs to the midpoint "
        "of their outputs, every time: it is a linear map",
        "a non-linear map",
        FF_STRUCTURE,
    )
    # One hidden unit: unless its bias outweighs 3 times its weights (rare), the unit's kink
    # or curve lies in the box [-3, 3]^4, so some pair of opposite corners straddles it.
    # Inputs stay small: an activation written with exp never overflows here.
    single = FeedForward(4, hidden_dim=1)
    corners = [[3.0 if (n >> i) & 1 else -3.0 for i in range(4)] for n in range(8)]
    bent = 0.0
    for _ in range(3):  # a draw whose kink lies outside the box is drawn again
        randomize(single, rng)
        centre = [v.data for v in single(values([0.0] * 4))]
        for corner in corners:
            ends = [[v.data for v in single(values(c))] for c in (corner, [-x for x in corner])]
            size = max(abs(v) for v in ends[0] + ends[1]) + 1e-12
            gap = max(abs(m - (x + y) / 2) for m, x, y in zip(centre, *ends))
            bent = max(bent, gap / size)
        if bent > 1e-6:
            break
    expect(
        bent > 1e-6,
        "FeedForward(4, hidden_dim=1) with random weights is a linear map: its one hidden "
        "unit gets no activation",
        "a non-linear map",
        FF_STRUCTURE,
    )


@pytest.mark.covers("feedforward")
def test_feedforward_activation_sits_between_the_layers() -> None:
    """The activation acts on the hidden vector: not on the input, not on the output."""
    after("test_feedforward_shape", "test_feedforward_keeps_its_weights")
    rng = random.Random(5)
    ff = FeedForward(4)
    randomize(ff, rng)

    def f(x: list[float]) -> list[float]:
        return [v.data for v in ff(values(x))]

    # An activation on the input makes f a sum of separate functions of each coordinate:
    # then f(x + a e_i + b e_j) - f(x + a e_i) - f(x + b e_j) + f(x) is 0.
    mixed = 0.0
    for _ in range(6):
        x = [rng.uniform(-2.0, 2.0) for _ in range(4)]
        i, j = rng.sample(range(4), 2)
        corners = []
        for di, dj in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)):
            y = list(x)
            y[i] += di
            y[j] += dj
            corners.append(f(y))
        f00, f10, f01, f11 = corners
        size = max(abs(v) for v in f00 + f10 + f01 + f11) + 1e-12
        gap = max(abs(a - b - c + d) for a, b, c, d in zip(f11, f10, f01, f00))
        mixed = max(mixed, gap / size)
    seen = [v for _ in range(24) for v in f([rng.uniform(-2.0, 2.0) for _ in range(4)])]
    expect(
        min(seen) < 0.0 < max(seen),
        "with random weights, FeedForward's outputs are never negative (or never positive) "
        "over 24 random inputs: an activation squashes the output",
        "outputs of both signs: the second Linear layer gives the output as it is",
        FF_STRUCTURE,
    )
    expect(
        mixed > 1e-6,
        "with random weights, each output of FeedForward is a sum of separate functions of "
        "each input coordinate: the activation is applied to x before the first layer",
        "an activation between the two Linear layers",
        FF_STRUCTURE,
    )

    # An activation after the second layer makes each output depend on x through one fixed
    # direction only: its slope with respect to x (measured here by finite differences, so
    # that this test does not depend on backward()) keeps that direction everywhere.
    ridge = FeedForward(4)
    randomize(ridge, rng, 0.5)

    def direction(x: list[float], k: int) -> list[float] | None:
        h = 1e-6
        slope = []
        for i in range(4):
            up, down = list(x), list(x)
            up[i] += h
            down[i] -= h
            slope.append((ridge(values(up))[k].data - ridge(values(down))[k].data) / (2 * h))
        norm = math.sqrt(sum(s * s for s in slope))
        return [s / norm for s in slope] if norm > 1e-4 else None

    turned = 0.0
    for _ in range(24):
        k = rng.randrange(4)
        a = direction([rng.uniform(-2.0, 2.0) for _ in range(4)], k)
        b = direction([rng.uniform(-2.0, 2.0) for _ in range(4)], k)
        if a is not None and b is not None:
            turned = max(turned, 1.0 - abs(sum(p * q for p, q in zip(a, b))))
    expect(
        turned > 1e-6,
        "with random weights, each output of FeedForward depends on the input through one "
        "fixed direction only: the activation is applied after the second layer",
        "an activation between the two Linear layers",
        FF_STRUCTURE,
    )
