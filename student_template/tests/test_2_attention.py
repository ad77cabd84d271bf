"""SelfAttention and TransformerBlock: shapes and the causal mask."""

from __future__ import annotations

import random

from engine import Value
from minigpt import SelfAttention, TransformerBlock


def random_sequence(length: int, dim: int) -> list[list[Value]]:
    return [[Value(random.uniform(-1.0, 1.0)) for _ in range(dim)] for _ in range(length)]


def as_floats(rows: list[list[Value]]) -> list[list[float]]:
    return [[v.data for v in row] for row in rows]


def test_self_attention_shape() -> None:
    attn = SelfAttention(embed_dim=4)
    out = attn(random_sequence(5, 4))
    assert len(out) == 5, "one output row per input row"
    assert all(len(row) == 4 for row in out), "each output row has embed_dim Values"


def test_causal_mask_hides_the_future() -> None:
    attn = SelfAttention(embed_dim=4)
    x = random_sequence(4, 4)
    before = as_floats(attn(x))
    changed = [row[:] for row in x]
    changed[3] = [Value(5.0), Value(-5.0), Value(2.0), Value(0.5)]  # change the LAST position
    after = as_floats(attn(changed))
    for i in range(3):
        assert all(abs(a - b) < 1e-9 for a, b in zip(before[i], after[i])), (
            f"output {i} changed when only position 3 changed: "
            "position i must only attend to positions j <= i"
        )
    # without the mask, earlier positions do see the change
    open_before = as_floats(attn(x, causal=False))
    open_after = as_floats(attn(changed, causal=False))
    assert any(abs(a - b) > 1e-6 for a, b in zip(open_before[0], open_after[0])), (
        "with causal=False every position should attend to every position"
    )


def test_transformer_block_shape() -> None:
    block = TransformerBlock(embed_dim=4, num_heads=2)
    out = block(random_sequence(3, 4))
    assert len(out) == 3 and all(len(row) == 4 for row in out), "a block maps (T, D) to (T, D)"
