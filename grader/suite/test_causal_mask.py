"""Check `causal_mask`: no output depends on a later position (unless causal=False)."""

from __future__ import annotations

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import (
    MODEL,
    attention_outputs,
    expect,
    max_abs_diff,
    random_rows,
    rows_equal,
)

pytestmark = pytest.mark.check("causal_mask")

MASK_HINT = (
    "Mask scores for keys j > i (skip them or use -inf) BEFORE the softmax; "
    "masking after it still mixes in the future through the normalisation."
)


def _perturbed(x: list[list[float]], k: int) -> list[list[float]]:
    y = [list(r) for r in x]
    y[k] = [v + 1.0 - 0.5 * i for i, v in enumerate(y[k])]
    return y


def test_attention_ignores_future_rows(student: Subject) -> None:
    """SelfAttention: changing row k never moves output rows before k"""
    x = random_rows(5, 4, 31)
    for k in (4, 2, 1):
        base, moved = attention_outputs(student, [x, _perturbed(x, k)])
        for i in range(k):
            expect(
                rows_equal(base[i], moved[i]),
                f"changing input row {k} moved output row {i} by "
                f"{max_abs_diff(base[i], moved[i]):.3g}: position {i} sees position {k}",
                MASK_HINT,
            )
        expect(
            not rows_equal(base[k], moved[k]),
            f"changing input row {k} did not change output row {k}: position {k} must see "
            "itself (mask only j > i)",
            MASK_HINT,
        )


def test_attention_not_causal_sees_future(student: Subject) -> None:
    """SelfAttention(causal=False): earlier rows do see later ones"""
    x = random_rows(4, 4, 32)
    base, moved = attention_outputs(student, [x, _perturbed(x, 3)], causal=False)
    expect(
        not rows_equal(base[0], moved[0]),
        "with causal=False, changing the last row did not move output row 0; without the "
        "mask every position attends to every other",
        "Apply the mask only when causal is True.",
    )


def test_model_ignores_future_tokens(student: Subject) -> None:
    """MiniGPT: changing token k never moves the logits before k"""
    args = [MODEL[k] for k in ("vocab_size", "embed_dim", "num_heads", "num_layers", "max_seq_len")]
    ids = [1, 4, 0, 6, 2, 3]
    for k in (5, 3, 1):
        changed = list(ids)
        changed[k] = (changed[k] + 3) % MODEL["vocab_size"]
        base, moved = (
            o["data"]
            for o in student.run(
                "run_module",
                component="MiniGPT",
                args=args,
                inputs=[ids, changed],
                token_inputs=True,
            )["outputs"]
        )
        for i in range(k):
            expect(
                rows_equal(base[i], moved[i]),
                f"changing token {k} moved the logits at position {i} by "
                f"{max_abs_diff(base[i], moved[i]):.3g}: position {i} sees the future",
                MASK_HINT,
            )
        expect(
            not rows_equal(base[k], moved[k]),
            f"changing token {k} did not change the logits at position {k}",
            "Each position's logits must depend on its own token.",
        )
