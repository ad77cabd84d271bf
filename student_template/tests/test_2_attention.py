"""SelfAttention (its weights and the causal mask) and TransformerBlock (its residuals)."""

from __future__ import annotations

import math
import random

import pytest
from helpers import (
    after,
    check_keeps_its_weights,
    differ,
    expect,
    fresh_minigpt,
    matrix_of,
    max_gap,
    number,
    numbers,
    numbers_of,
    parts_of,
    random_rows,
    randomize,
    requires,
    same,
    sequence,
    set_all,
    values,
)
from minigpt import FeedForward, LayerNorm, SelfAttention, TransformerBlock

D = 4
SHAPE = "SelfAttention maps (T, D) to (T, D): one output row per input row."
WEIGHTS = (
    "Softmax each query's scores q_i . k_j / sqrt(D) over the keys it may see (one row of "
    "the score matrix), then take that weighted average of the value vectors."
)
MASK = (
    "With causal=True, leave out the scores of keys j > i (or set them to -inf) BEFORE the "
    "softmax, so position i only sees positions 0..i, itself included; with causal=False "
    "keep every key."
)
RESIDUAL = (
    "x = x + attn(ln1(x)), then x = x + ff(ln2(x)): normalise the input of each branch and "
    "add the branch's output to the un-normalised x. The residual belongs to the block "
    "alone: SelfAttention and FeedForward return only their own output."
)


def random_attention(seed: int, d: int = D, scale: float = 0.7) -> SelfAttention:
    """SelfAttention(d) with every weight random: a rule for ANY weights then shows."""
    attn = SelfAttention(d)
    randomize(attn, random.Random(seed), scale)
    return attn


def run(attn: SelfAttention, x: list[list[float]], causal: bool | None = None) -> list[list[float]]:
    """attn on rows x (with the default causal flag unless given), as numbers."""
    t, d = len(x), len(x[0])
    if causal is None:
        return matrix_of(attn(sequence(x)), t, d, f"SelfAttention({d}) on ({t}, {d})", SHAPE)
    call = f"SelfAttention({d}) on ({t}, {d}) with causal={causal}"
    return matrix_of(attn(sequence(x), causal=causal), t, d, call, SHAPE)


def moved(x: list[list[float]], k: int) -> list[list[float]]:
    """x with row k changed."""
    y = [list(row) for row in x]
    y[k] = [v + 1.0 - 0.5 * i for i, v in enumerate(y[k])]
    return y


@pytest.mark.covers("shapes", "attention")
def test_attention_shape() -> None:
    """SelfAttention returns (T, D) for T = 3 and T = 1 (with causal=False: no mask yet)."""
    attn = SelfAttention(D)
    rng = random.Random(1)
    for t in (3, 1):
        run(attn, random_rows(rng, t, D), False)


@pytest.mark.covers("parameters")
def test_attention_keeps_its_weights() -> None:
    """SelfAttention's weights are made once and listed by parameters()."""
    after("test_attention_shape")
    attn = SelfAttention(D)
    x = random_rows(random.Random(20), 3, D)
    check_keeps_its_weights(attn, lambda: run(attn, x, False), f"SelfAttention({D})")


@pytest.mark.covers("residual")
def test_attention_adds_no_residual_of_its_own() -> None:
    """With every weight tiny, SelfAttention's output is tiny too: it returns its weighted
    values only, and the block adds the residual."""
    after("test_attention_shape", "test_attention_keeps_its_weights")
    attn = random_attention(19, scale=1e-4)
    for row in random_rows(random.Random(18), 3, D):
        out = run(attn, [row], False)[0]
        expect(
            max(abs(v) for v in out) <= 1e-2,
            f"with every weight of SelfAttention below about 0.001, the row {numbers(row)} "
            f"came out as {numbers(out)}",
            "numbers near 0: tiny weights make tiny values",
            RESIDUAL,
        )


PARTS = (
    "test_attention_shape",
    "test_attention_keeps_its_weights",
    "test_attention_adds_no_residual_of_its_own",
)


@pytest.mark.covers("attention", "causal_mask")
@pytest.mark.parametrize("causal", [False, True])
def test_attention_weights_sum_to_one(causal: bool) -> None:
    """Identical input rows give identical output rows: each query's weights over the keys it
    sees (every key, or keys 0..i with the causal mask) sum to one."""
    after(*PARTS)
    attn = random_attention(2)
    row = random_rows(random.Random(3), 1, D)[0]
    out = run(attn, [row] * 4, causal)
    for i in range(1, 4):
        expect(
            same(out[i], out[0], 1e-7),
            f"with 4 identical input rows (causal={causal}), output row {i} is "
            f"{numbers(out[i])} and row 0 is {numbers(out[0])}",
            "identical output rows: a weighted average of identical values, with weights "
            "summing to one, is that value",
            WEIGHTS,
        )


@pytest.mark.covers("attention")
def test_attention_weights_depend_on_the_query() -> None:
    """With causal=False, different rows attend differently (scores use query and key)."""
    after(*PARTS)
    attn = random_attention(4, scale=1.0)
    out = run(attn, random_rows(random.Random(5), 4, D), False)
    expect(
        any(differ(out[i], out[0]) for i in range(1, 4)),
        "with causal=False and 4 different input rows, every output row is the same",
        "different rows: each row's weights come from its own query",
        "Score each pair (i, j) with the dot product of the query of row i and the key of row "
        "j, divided by sqrt(D).",
    )


@pytest.mark.covers("attention")
def test_attention_weights_are_positive() -> None:
    """With causal=False, each output row lies between what each of two rows gives alone: the
    softmax weights the values with positive numbers that sum to one."""
    after(*PARTS)
    attn = random_attention(21, scale=1.0)
    rng = random.Random(22)
    for _ in range(6):
        a, b = random_rows(rng, 2, D)
        alone_a, alone_b = run(attn, [a], False)[0], run(attn, [b], False)[0]
        out = run(attn, [a, b], False)
        span = [p - q for p, q in zip(alone_a, alone_b)]
        size = sum(s * s for s in span)
        if size < 1e-12:
            continue
        for i in range(2):
            rel = [p - q for p, q in zip(out[i], alone_b)]
            w = sum(r * s for r, s in zip(rel, span)) / size  # out[i] = w a' + (1 - w) b'
            off = max(abs(r - w * s) for r, s in zip(rel, span))
            between = off <= 1e-7 * (1.0 + math.sqrt(size)) and -1e-9 <= w <= 1.0 + 1e-9
            expect(
                between,
                f"with causal=False and two rows a and b, output row {i} is not between "
                "SelfAttention([a]) and SelfAttention([b]) "
                + (f"(its weight on a comes out as {number(w)})" if off <= 1e-6 else ""),
                "w * SelfAttention([a]) + (1 - w) * SelfAttention([b]) with 0 < w < 1",
                WEIGHTS + " exp() makes every weight positive.",
            )


@pytest.mark.covers("attention")
def test_attention_handles_huge_scores() -> None:
    """Scores in the thousands give finite outputs: the softmax subtracts the largest score."""
    after("test_attention_weights_sum_to_one", "test_attention_weights_are_positive")
    attn = random_attention(23, scale=1.0)
    x = [[100.0 * v for v in row] for row in random_rows(random.Random(24), 3, D)]
    try:
        out = run(attn, x, False)
    except (OverflowError, ZeroDivisionError, ValueError) as exc:
        out = []
        expect(
            False,
            "with inputs about 100 times larger (scores in the thousands), SelfAttention "
            f"raised {type(exc).__name__}: {exc}",
            "finite outputs",
            "math.exp(1000) overflows: subtract each row's largest score (its .data) before "
            "exp(), as a stable softmax does.",
        )
    expect(
        all(math.isfinite(v) for row in out for v in row),
        f"with inputs about 100 times larger, SelfAttention returned {numbers(out[-1])} for "
        "the last row",
        "finite numbers",
        "Subtract each row's largest score (its .data) before exp().",
    )


def causal_at_fixed_length(attn: SelfAttention, x: list[list[float]]) -> bool:
    """Does changing the last row leave every earlier output row alone?"""
    before, after = run(attn, x), run(attn, moved(x, len(x) - 1))
    return all(same(a, b, 1e-7) for a, b in zip(before[:-1], after[:-1]))


@pytest.mark.covers("attention")
def test_appending_rows_never_changes_earlier_outputs() -> None:
    """The outputs of the first t rows are the same whether or not more rows follow (each
    length in a fresh copy of minigpt.py, so nothing kept from an earlier call can help)."""
    after("test_attention_weights_sum_to_one", "test_attention_weights_are_positive")

    def fresh_attention() -> SelfAttention:
        attn: SelfAttention = fresh_minigpt().SelfAttention(D)
        randomize(attn, random.Random(6), 0.7)  # the same weights every time
        return attn

    x = random_rows(random.Random(7), 5, D)
    requires(causal_at_fixed_length(fresh_attention(), x), "test_causal_mask_hides_the_future")
    full = run(fresh_attention(), x)
    for t in (1, 3):
        part = run(fresh_attention(), x[:t])
        expect(
            all(same(a, b, 1e-7) for a, b in zip(part, full[:t])),
            f"the outputs of the first {t} rows change, by up to "
            f"{number(max_gap(part, full[:t]))}, when {5 - t} more rows follow them",
            "the same outputs: with the causal mask, row i depends on rows 0..i only",
            "Scale the scores by 1 / sqrt(D), the size of a vector, never by anything that "
            "depends on the number of rows T.",
        )


@pytest.mark.covers("causal_mask")
@pytest.mark.parametrize("d", [3, 5])
def test_causal_mask_hides_the_future(d: int) -> None:
    """Changing row k never moves an output row before k."""
    after("test_attention_weights_sum_to_one", "test_attention_weights_are_positive")
    attn = random_attention(8, d)
    x = random_rows(random.Random(9), 5, d)
    base = run(attn, x)
    for k in (4, 2, 1):
        out = run(attn, moved(x, k))
        for i in range(k):
            expect(
                same(base[i], out[i], 1e-7),
                f"changing input row {k} moved output row {i} by "
                f"{number(max_gap(base[i], out[i]))}",
                f"output row {i} unchanged: position {i} must not see position {k}",
                MASK,
            )


@pytest.mark.covers("causal_mask")
def test_a_position_sees_itself() -> None:
    """Changing row k moves output row k: position k attends to itself."""
    after("test_attention_weights_sum_to_one", "test_attention_weights_are_positive")
    attn = random_attention(10)
    x = random_rows(random.Random(11), 4, D)
    base = run(attn, x)
    for k in (3, 1, 0):
        out = run(attn, moved(x, k))
        expect(
            differ(base[k], out[k]),
            f"changing input row {k} did not change output row {k}",
            f"output row {k} to change: position {k} sees itself",
            MASK,
        )


@pytest.mark.covers("causal_mask")
def test_causal_false_sees_every_position() -> None:
    """With causal=False, changing the last row moves row 0 too."""
    after("test_attention_weights_sum_to_one", "test_attention_weights_are_positive")
    attn = random_attention(12)
    x = random_rows(random.Random(13), 4, D)
    base, out = run(attn, x, False), run(attn, moved(x, 3), False)
    expect(
        differ(base[0], out[0]),
        "with causal=False, changing the last input row did not move output row 0",
        "row 0 to change: without the mask every position attends to every position",
        MASK,
    )


# --------------------------------------------------------------------------
# TransformerBlock


@pytest.mark.covers("shapes")
def test_block_shape() -> None:
    """TransformerBlock maps (T, D) to (T, D)."""
    after("test_attention_weights_sum_to_one", "test_attention_weights_are_positive")
    after("test_feedforward_shape", "test_feedforward_keeps_its_weights")
    block = TransformerBlock(D, 2)
    out = block(sequence(random_rows(random.Random(14), 3, D)))
    matrix_of(out, 3, D, f"TransformerBlock({D}, 2) on (3, {D})", "A block maps (T, D) to (T, D).")


@pytest.mark.covers("parameters")
def test_block_keeps_its_weights() -> None:
    """TransformerBlock's weights are made once and listed by parameters()."""
    after("test_block_shape")
    block = TransformerBlock(D, 2)
    x = random_rows(random.Random(25), 3, D)

    def out() -> list[list[float]]:
        return numbers_of(block(sequence(x)))

    check_keeps_its_weights(block, out, f"TransformerBlock({D}, 2)")


@pytest.mark.covers("residual")
def test_block_with_zero_weights_returns_its_input() -> None:
    """A TransformerBlock whose parameters are all 0 returns its input unchanged."""
    after("test_block_shape", "test_block_keeps_its_weights")
    block = TransformerBlock(D, 2)
    set_all(block, 0.0)
    x = random_rows(random.Random(15), 3, D)
    out = matrix_of(block(sequence(x)), 3, D, "TransformerBlock on (3, 4)", "A block keeps (T, D).")
    expect(
        same(out, x, 1e-9),
        f"with every parameter of the block set to 0, input row 0 {numbers(x[0])} came out "
        f"as {numbers(out[0])}",
        "the input itself: with zero weights both branches output 0, and a pre-norm block "
        "adds them to the un-normalised x",
        RESIDUAL,
    )


@pytest.mark.covers("residual")
def test_block_is_the_pre_norm_formula_of_its_parts() -> None:
    """With random weights, block(x) = h + ff(ln2(h)) with h = x + attn(ln1(x)), computed
    from the block's own LayerNorms, SelfAttention and FeedForward (one row at a time)."""
    after("test_block_shape", "test_block_keeps_its_weights")
    after("test_layernorm_keeps_its_weights", "test_attention_keeps_its_weights")
    block = TransformerBlock(D, 2)
    randomize(block, random.Random(26), 0.7)
    attns = parts_of(block, SelfAttention)
    ffs = parts_of(block, FeedForward)
    norms = parts_of(block, LayerNorm, stop=(SelfAttention, FeedForward))
    if (len(attns), len(ffs), len(norms)) != (1, 1, 2):
        return  # the block is built from other parts: there is no formula to compare with
    attn, ff = attns[0], ffs[0]

    def formula(row: list[float], ln1: LayerNorm, ln2: LayerNorm) -> list[float]:
        x = values(row)
        h = [xi + ai for xi, ai in zip(x, attn([ln1(x)])[0])]
        return [hi.data + fi.data for hi, fi in zip(h, ff(ln2(h)))]

    for row in random_rows(random.Random(27), 4, D):
        got = numbers_of(block(sequence([row]))[0])
        options = [formula(row, *norms), formula(row, *norms[::-1])]
        expect(
            any(same(got, want, 1e-9) for want in options),
            f"for the input row {numbers(row)} the block returned {numbers(got)}",
            f"x + attn(ln1(x)) = h, then h + ff(ln2(h)) = {numbers(options[0])} (or with the "
            "two norms the other way round)",
            RESIDUAL + " Apply the two residuals one after the other (not both to x), each "
            "branch with its own LayerNorm.",
        )
