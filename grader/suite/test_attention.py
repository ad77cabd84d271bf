"""Check `attention`: a softmax over scores q_i . k_j that sum to one, for ANY weights.

The judge sets the weights at random and reads the attention weights off the
outputs. A single row [k] sees only itself, mask or not, so its output is g(k),
the value map (value projection, then the output projection if any); the last
row of [k, q] sees both, mask or not, so it is w * g(k) + (1 - w) * g(q) for the
weight w that query q gives key k, g(q) being the output for [q] alone. A
missing or wrong mask is thus the causal_mask check's finding, not this one's. From those the
judge solves for w, and checks what every softmax attention does:

- the second row IS such a mix (weights summing to one) and 0 < w < 1;
- log(w / (1 - w)) = s(q, k) - s(q, q) is affine in k: moving k by u twice
  moves it by the same amount twice (no exp, exp(s) - max, ... fail this);
- it depends on query and key together: the mixed difference
  S(u, v) = F(q+v, k+u) - F(q+v, k) - F(q, k+u) + F(q, k) = (Q v) . (K u)
  is not 0, and S(u, v) != S(v, u) (one projection for queries and keys would
  make it symmetric);
- scores in the millions stay finite (the max is subtracted before exp);
- the first t outputs do not change when more rows follow (no scale that
  depends on T);
- every weight moves the output, but a key bias (D values), which a softmax
  cannot see: q_i . b_k shifts all of query i's scores alike.

Every input whose output is compared with another's is answered apart (a fork
of the worker that forgets it), so no memory of one input shapes another's.

False failures: each measurement is exact up to rounding (about 1e-13 here) but
for two events of probability zero made small by thresholds: |S(u, v)| or
|S(u, v) - S(v, u)| below 1e-6 of its scale for a random pair of directions
(probability about 1e-6 each); the check fails only if both pairs drawn show it,
about 1e-12 per grading. A draw whose weights are too close to 0 or 1, or whose
value vectors nearly coincide, to read w precisely is redrawn, never failed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import pytest

from grader.judge.remote import Remote, Student
from grader.suite.suite_support import (
    build,
    differ,
    expect,
    fresh,
    max_abs_diff,
    randomize,
    rows,
    same,
    scale_of,
)

pytestmark = pytest.mark.check("attention")

D = 4
SCALE = 0.5  # weights of N(0, 0.25): scores of a few units, never a saturated softmax
DRAWS = 4  # tries at an informative draw before a measurement is called uninformative
HINT = (
    "Softmax each query's scores q_i . k_j / sqrt(D) over the keys it may see (one row of "
    "the score matrix), then take that weighted average of the value vectors."
)
EXP_HINT = (
    "The weights are softmax(scores): exp(s - max) / sum of exp(s - max) over the keys a "
    "query sees, with s = q_i . k_j / sqrt(D)."
)


def random_attention(
    student: Student, name: str, scale: float = SCALE, d: int = D
) -> tuple[Remote, random.Random]:
    """SelfAttention(d) with every weight drawn at random (a property for ANY weights), in
    a fresh worker (see suite_support.apart)."""
    fresh(student)
    rng = student.rng(name)
    attn = build(student, rng, "SelfAttention", d)
    randomize(attn, rng, scale)
    return attn, rng


def _identical_rows(student: Student, causal: bool) -> None:
    attn, rng = random_attention(student, f"attention.identical.{causal}", 1.0)
    row = rows(rng, 1, D)[0]
    out = attn.forward([row] * 4, causal=causal).data
    for i in range(1, 4):
        expect(
            same(out[i], out[0], 1e-7),
            f"with 4 identical input rows (causal={causal}), output row {i} differs from row 0 "
            f"by {max_abs_diff(out[i], out[0]):.3g}: the attention weights of a row do not sum "
            "to one",
            HINT,
        )


def test_identical_rows_causal(student: Student) -> None:
    """Identical input rows give identical output rows (causal)"""
    _identical_rows(student, True)


def test_identical_rows_not_causal(student: Student) -> None:
    """Identical input rows give identical output rows (causal=False)"""
    _identical_rows(student, False)


# --- the weights, read off the outputs ----------------------------------------


class Uninformative(Exception):
    """This draw cannot tell: the weights are near 0 or 1, or two value vectors coincide."""


@dataclass
class Weights:
    """What the mixes showed: log-odds F(q, k) per (query, key) pair, or the first problem."""

    problem: str | None = None
    hint: str | None = None
    logodds: dict[tuple[str, str], float] | None = None


def _sub(a: list[float], b: list[float]) -> list[float]:
    return [x - y for x, y in zip(a, b, strict=True)]


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _mix_weight(pair: list[list[float]], alone: list[float]) -> tuple[float, float]:
    """For the outputs of [k, q] and of [q] alone: the weight w that q gives k, and how
    far the second row is from w * g(k) + (1 - w) * g(q), relative to the outputs' size."""
    g_key, mixed = pair
    span = _sub(g_key, alone)
    size = scale_of(g_key, alone, mixed) + 1e-300
    if math.sqrt(_dot(span, span)) < 1e-4 * size:
        raise Uninformative  # the two value vectors nearly coincide: w cannot be read
    w = _dot(_sub(mixed, alone), span) / _dot(span, span)
    rest = [m - a - w * s for m, a, s in zip(mixed, alone, span, strict=True)]
    return w, max(abs(r) for r in rest) / size


def _shift(x: list[float], u: list[float], by: float = 1.0) -> list[float]:
    return [a + by * b for a, b in zip(x, u, strict=True)]


def _weights(student: Student) -> Weights:
    """Log-odds of the weights for the (query, key) pairs the tests need, on random
    weights and inputs; a draw that cannot tell is redrawn (up to DRAWS times)."""

    def run() -> Weights:
        attn, rng = random_attention(student, "attention.weights")
        for _ in range(DRAWS):
            a, b = rows(rng, 2, D)
            dirs = [rows(rng, 1, D, 1.0)[0] for _ in range(4)]
            try:
                found = _read_pairs(attn, a, b, dirs, [0])
                if found.logodds is not None and not _conclusive(found.logodds, 0):
                    found = _read_pairs(attn, a, b, dirs, [0, 1])  # a second pair decides
                return found
            except Uninformative:
                continue
        return Weights()  # never informative: nothing to judge (about 1e-12 for a softmax)

    return student.measure("attention.weights", run)


def _read_pairs(
    attn: Remote, a: list[float], b: list[float], dirs: list[list[float]], ns: list[int]
) -> Weights:
    """The log-odds for key a (moved by u, twice, and by v) and query b (moved by v and
    by u), for the direction pairs ``ns`` of (u0, v0), (u1, v1): every input apart."""
    keys = {"a": a, "a+2u": _shift(a, dirs[0], 2.0)}
    queries = {"b": b}
    pairs = [("b", "a"), ("b", "a+2u")]
    for n in ns:
        u, v = dirs[2 * n], dirs[2 * n + 1]
        keys |= {f"a+u{n}": _shift(a, u), f"a+v{n}": _shift(a, v)}
        queries |= {f"b+v{n}": _shift(b, v), f"b+u{n}": _shift(b, u)}
        pairs += [
            ("b", f"a+u{n}"),
            (f"b+v{n}", "a"),
            (f"b+v{n}", f"a+u{n}"),
            ("b", f"a+v{n}"),
            (f"b+u{n}", "a"),
            (f"b+u{n}", f"a+v{n}"),
        ]
    singles = {**queries, **keys}
    inputs = [[keys[k], queries[q]] for q, k in pairs] + [[row] for row in singles.values()]
    outs = [o.data for o in attn.forward_many(inputs, apart=True)]
    alone = {name: outs[len(pairs) + i][0] for i, name in enumerate(singles)}
    # g(k) is the output of [k] alone, not the first row of [k, q]: a single row sees only
    # itself with or without a mask, so a missing mask is the causal check's alone.
    mixes = {
        (q, k): ([alone[k], out[1]], keys[k], queries[q])
        for (q, k), out in zip(pairs, outs, strict=False)
    }
    return _read(mixes, alone)


def _conclusive(f: dict[tuple[str, str], float], n: int) -> bool:
    """Does the direction pair n alone show query-key interaction and asymmetry?"""
    one, other = _mixed(f, f"u{n}", f"v{n}"), _mixed(f, f"v{n}", f"u{n}")
    scale = 1e-3 + max(abs(x) for x in f.values())
    return abs(one) > 1e-6 * scale and abs(one - other) > 1e-6 * (abs(one) + abs(other))


def attention_is_judged(student: Student) -> bool:
    """False when the attention weights are no softmax: the attention check says so, and
    checks that would only meet the same bug again (at all-zero weights, say) skip."""
    return _weights(student).problem is None


def _adds_its_input(
    pair: list[list[float]], alone: list[float], key: list[float], query: list[float]
) -> bool:
    """Is the output a softmax mix plus the row's own input (a residual inside attention)?"""
    pair = [_sub(pair[0], key), _sub(pair[1], query)]
    try:
        w, rest = _mix_weight(pair, _sub(alone, query))
    except Uninformative:
        return False
    return rest <= 1e-6 and 0.0 < w < 1.0


def _read(mixes: dict[tuple[str, str], Any], alone: dict[str, list[float]]) -> Weights:
    logodds: dict[tuple[str, str], float] = {}
    for (q, k), (pair, key, query) in mixes.items():
        if _adds_its_input(pair, alone[q], key, query):
            return Weights()  # a residual inside SelfAttention: the residual check names it
        w, rest = _mix_weight(pair, alone[q])
        if rest > 1e-6:
            return Weights(
                f"the output of a query row is not a weighted average of the value vectors "
                f"of the rows it sees (off by {rest:.3g} of its size): its weights do not "
                "sum to one, or the values are not the ones mixed",
                HINT,
            )
        if not 0.0 < w < 1.0:
            return Weights(
                f"a query gives a key the weight {w:.4g}: attention weights are a softmax, "
                "always between 0 and 1",
                EXP_HINT,
            )
        if not 1e-3 < w < 1 - 1e-3:
            raise Uninformative  # nearly saturated: the log-odds would be imprecise
        logodds[q, k] = math.log(w / (1.0 - w))
    return Weights(logodds=logodds)


def _measured(student: Student) -> dict[tuple[str, str], float] | None:
    """The log-odds, failing the asking test if the mixes are not softmax mixes."""
    found = _weights(student)
    expect(found.problem is None, found.problem or "", found.hint)
    return found.logodds


def _linear(f: dict[tuple[str, str], float]) -> bool:
    """Do two equal steps of a key move its log-odds by equal amounts?"""
    step, again = f["b", "a+u0"] - f["b", "a"], f["b", "a+2u"] - f["b", "a+u0"]
    return abs(step - again) <= 1e-6 * (1.0 + abs(step) + abs(again))


def softmax_attention(student: Student) -> bool:
    """Are the attention weights a softmax of scores linear in the key (as far as the
    measurement tells)? A check whose failure would only repeat that bug's (the
    gradients of exp(s) - max, say) skips when they are not."""
    found = _weights(student)
    return found.problem is None and (found.logodds is None or _linear(found.logodds))


def _pairs(f: dict[tuple[str, str], float]) -> list[int]:
    """The direction pairs measured: the first, and the second when the first could not
    decide (each is a random pair: both undecided has probability about 1e-12)."""
    return [n for n in (0, 1) if ("b", f"a+u{n}") in f]


def _mixed(f: dict[tuple[str, str], float], u: str, v: str) -> float:
    """S(u, v) = F(b+v, a+u) - F(b+v, a) - F(b, a+u) + F(b, a) = (Q v) . (K u) / sqrt(D)."""
    return f[f"b+{v}", f"a+{u}"] - f[f"b+{v}", "a"] - f["b", f"a+{u}"] + f["b", "a"]


def test_outputs_are_softmax_mixes(student: Student) -> None:
    """Each output row is a weighted average of value vectors, weights between 0 and 1"""
    _measured(student)


def test_weights_are_a_softmax_of_linear_scores(student: Student) -> None:
    """The weights are a softmax of scores linear in the key (exp of the score)"""
    f = _measured(student)
    if f is None:
        return
    step, again = f["b", "a+u0"] - f["b", "a"], f["b", "a+2u"] - f["b", "a+u0"]
    expect(
        _linear(f),
        "moving a key row by the same step twice changed log(w / (1 - w)) of its weight by "
        f"{step:.6g}, then by {again:.6g}: with softmax(q . k) the two are equal, so the "
        "weights are not exp(score) normalised",
        EXP_HINT,
    )


def test_weights_depend_on_query_and_key(student: Student) -> None:
    """The scores depend on the query and the key together (q_i . k_j)"""
    f = _measured(student)
    if f is None:
        return
    sizes = [abs(_mixed(f, f"u{n}", f"v{n}")) for n in _pairs(f)]
    scale = 1e-3 + max(abs(x) for x in f.values())
    expect(
        max(sizes) > 1e-6 * scale,
        "changing the query row does not change how it weighs one key against another: the "
        "scores do not depend on query and key together",
        "Score each pair with the dot product of the query of row i and the key of row j.",
    )


def test_query_and_key_projections_differ(student: Student) -> None:
    """Queries and keys have projections of their own (the scores are not symmetric)"""
    f = _measured(student)
    if f is None:
        return
    ns = _pairs(f)
    gaps = [abs(_mixed(f, f"u{n}", f"v{n}") - _mixed(f, f"v{n}", f"u{n}")) for n in ns]
    sizes = [abs(_mixed(f, f"u{n}", f"v{n}")) + abs(_mixed(f, f"v{n}", f"u{n}")) for n in ns]
    if max(sizes) <= 1e-9:
        return  # no query-key interaction at all: the test above reports it
    expect(
        any(gap > 1e-6 * size for gap, size in zip(gaps, sizes, strict=True)),
        "the scores are symmetric: q_i . k_j always equals q_j . k_i, which happens when "
        "queries and keys come from the same projection",
        "Give SelfAttention three projections of its own: query, key and value (three "
        "Linear(D, D), or one Linear(D, 3D) split in three).",
    )


def test_large_scores_stay_finite(student: Student) -> None:
    """Scores in the millions (causal=False) give finite weighted averages: no overflow"""
    attn, rng = random_attention(student, "attention.large")
    x = [[1000.0 * v for v in row] for row in rows(rng, 3, D)]
    out = attn.forward(x, causal=False).data  # a non-finite answer fails here, saying so
    alone = [o.data[0] for o in attn.forward_many([[row] for row in x], apart=True)]
    low = [min(col) for col in zip(*alone, strict=True)]
    high = [max(col) for col in zip(*alone, strict=True)]
    slack = 1e-6 * (1.0 + scale_of(alone))
    inside = all(
        lo - slack <= v <= hi + slack
        for row in out
        for v, lo, hi in zip(row, low, high, strict=True)
    )
    expect(
        inside,
        "with inputs of size 1000 (scores in the millions) an output row is not an average "
        "of the value vectors",
        "Subtract each row's largest score before exp: exp(s - max) never overflows.",
    )


def causal_at_fixed_length(attn: Remote, x: list[list[float]]) -> bool:
    """Does changing the last row leave every earlier output row unchanged?"""
    moved = [list(r) for r in x]
    moved[-1] = [v + 1.0 for v in moved[-1]]
    base, other = (o.data for o in attn.forward_many([x, moved], apart=True))
    return all(same(a, b, 1e-7) for a, b in zip(base[:-1], other[:-1], strict=True))


def _later_length(student: Student) -> int | None:
    """The first t whose causal outputs change when more rows follow, or None."""

    def run() -> int | None:
        attn, rng = random_attention(student, "attention.prefix")
        x = rows(rng, 5, D)
        if not causal_at_fixed_length(attn, x):
            return None  # the causal mask itself is wrong: the causal_mask check reports it
        full, *parts = (o.data for o in attn.forward_many([x, x[:1], x[:3]], apart=True))
        for t, part in zip((1, 3), parts, strict=True):
            if not all(same(a, b, 1e-7) for a, b in zip(part, full[:t], strict=True)):
                return t
        return None

    return student.measure("attention.prefix", run)


def length_independent(student: Student) -> bool:
    """Do SelfAttention's first causal outputs ignore how many rows follow? When they do
    not, a model-level test that would only meet it again (positions counted from the
    start) does not judge: this check names it."""
    return _later_length(student) is None


def test_outputs_do_not_depend_on_later_length(student: Student) -> None:
    """Causal outputs of the first t rows are the same whether or not more rows follow"""
    t = _later_length(student)
    expect(
        t is None,
        f"the outputs for the first {t} rows change when {5 - (t or 0)} more rows follow: the "
        "scores are scaled by something that depends on the sequence length",
        "Scale the scores by 1 / sqrt(D), the vector size, not by anything that depends on T.",
    )


def test_every_weight_moves_the_output(student: Student) -> None:
    """Every weight of SelfAttention changes its output (but a key bias, which cannot)"""

    def run() -> tuple[int, int]:
        rng = student.rng("attention.used")
        attn = build(student, rng, "SelfAttention", D)
        theta = randomize(attn, rng, SCALE)
        x = rows(rng, 3, D)
        settings = [list(theta)]
        for i in range(len(theta)):
            moved = list(theta)
            moved[i] += 0.1
            settings.append(moved)
        base, *outs = (o.data for o in attn.forward_with(settings, x, causal=False))
        attn.set_params(theta)
        dead = sum(1 for out in outs if not differ(out, base, 1e-10))
        return dead, len(theta)

    dead, total = student.measure("attention.used", run)
    expect(
        dead <= D,
        f"{dead} of the {total} parameters of SelfAttention({D}) never change its output: a "
        "projection is built but not used (values computed with the key projection?). Only a "
        f"key bias ({D} values) may do nothing: a softmax ignores a shift of all of a query's "
        "scores",
        "Compute queries, keys and values each with its own projection, and mix the VALUE "
        "vectors with the weights.",
    )
