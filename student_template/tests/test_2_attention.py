"""SelfAttention (its weights and the causal mask) and TransformerBlock (its residuals)."""

from __future__ import annotations

import random

import pytest
from helpers import (
    after,
    differ,
    expect,
    matrix_of,
    max_gap,
    number,
    numbers,
    random_rows,
    randomize,
    requires,
    same,
    sequence,
    set_all,
    vector_of,
)
from minigpt import FeedForward, SelfAttention, TransformerBlock

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


@pytest.mark.covers("attention", "causal_mask")
@pytest.mark.parametrize("causal", [False, True])
def test_attention_weights_sum_to_one(causal: bool) -> None:
    """Identical input rows give identical output rows: each query's weights over the keys it
    sees (every key, or keys 0..i with the causal mask) sum to one."""
    after("test_attention_shape")
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
    after("test_attention_shape")
    attn = random_attention(4, scale=1.0)
    out = run(attn, random_rows(random.Random(5), 4, D), False)
    expect(
        any(differ(out[i], out[0]) for i in range(1, 4)),
        "with causal=False and 4 different input rows, every output row is the same",
        "different rows: each row's weights come from its own query",
        "Score each pair (i, j) with the dot product of the query of row i and the key of row "
        "j, divided by sqrt(D).",
    )


def causal_at_fixed_length(attn: SelfAttention, x: list[list[float]]) -> bool:
    """Does changing the last row leave every earlier output row alone?"""
    before, after = run(attn, x), run(attn, moved(x, len(x) - 1))
    return all(same(a, b, 1e-7) for a, b in zip(before[:-1], after[:-1]))


@pytest.mark.covers("attention")
def test_appending_rows_never_changes_earlier_outputs() -> None:
    """The outputs of the first t rows are the same whether or not more rows follow."""
    after("test_attention_weights_sum_to_one")
    attn = random_attention(6)
    x = random_rows(random.Random(7), 5, D)
    requires(causal_at_fixed_length(attn, x), "test_causal_mask_hides_the_future")
    full = run(attn, x)
    for t in (1, 3):
        part = run(attn, x[:t])
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
    after("test_attention_weights_sum_to_one")
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
    after("test_attention_weights_sum_to_one")
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
    after("test_attention_weights_sum_to_one")
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
    after("test_attention_weights_sum_to_one", "test_feedforward_shape")
    block = TransformerBlock(D, 2)
    out = block(sequence(random_rows(random.Random(14), 3, D)))
    matrix_of(out, 3, D, f"TransformerBlock({D}, 2) on (3, {D})", "A block maps (T, D) to (T, D).")


@pytest.mark.covers("residual")
def test_block_with_zero_weights_returns_its_input() -> None:
    """A TransformerBlock whose parameters are all 0 returns its input unchanged."""
    after("test_block_shape")
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
def test_branches_with_zero_weights_output_zeros() -> None:
    """SelfAttention and FeedForward with all parameters 0 output zeros: no residual inside."""
    after("test_attention_weights_sum_to_one", "test_feedforward_shape")
    x = random_rows(random.Random(16), 3, D)
    attn = SelfAttention(D)
    set_all(attn, 0.0)
    out = run(attn, x)
    expect(
        same(out, [[0.0] * D] * 3, 1e-12),
        f"SelfAttention with every parameter 0 returned row 0 as {numbers(out[0])}",
        "zeros (its values are all 0)",
        RESIDUAL,
    )
    ff = FeedForward(D)
    set_all(ff, 0.0)
    got = vector_of(ff(sequence(x)[0]), D, f"FeedForward({D})", "FeedForward maps D to D.")
    expect(
        same(got, [0.0] * D, 1e-12),
        f"FeedForward with every parameter 0 returned {numbers(got)}",
        "zeros",
        RESIDUAL,
    )
