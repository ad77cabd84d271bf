"""Check `causal_mask`: no output depends on a later position (unless causal=False)."""

from __future__ import annotations

import pytest

from grader.judge.remote import Student
from grader.suite.suite_support import (
    MODEL,
    differ,
    expect,
    max_abs_diff,
    model,
    randomize,
    rows,
    same,
)
from grader.suite.test_attention import D, random_attention

pytestmark = pytest.mark.check("causal_mask")

MASK_HINT = (
    "Mask scores for keys j > i (skip them or use -inf) BEFORE the softmax; "
    "masking after it still mixes in the future through the normalisation."
)


def _perturbed(x: list[list[float]], k: int) -> list[list[float]]:
    y = [list(r) for r in x]
    y[k] = [v + 1.0 - 0.5 * i for i, v in enumerate(y[k])]
    return y


def _attention_leaks(student: Student) -> list[tuple[int, int, float]]:
    """(k, i, size) for every earlier output row i that moved when row k changed."""

    def run() -> list[tuple[int, int, float]]:
        attn, rng = random_attention(student, "causal.attention")
        x = rows(rng, 5, D)
        base = attn.forward(x).data
        leaks = []
        for k in (4, 2, 1):
            moved = attn.forward(_perturbed(x, k)).data
            leaks += [
                (k, i, max_abs_diff(base[i], moved[i]))
                for i in range(k)
                if not same(base[i], moved[i], 1e-7)
            ]
        return leaks

    return student.measure("causal.attention", run)


def test_attention_ignores_future_rows(student: Student) -> None:
    """SelfAttention: changing row k never moves output rows before k"""
    leaks = _attention_leaks(student)
    if leaks:
        k, i, size = leaks[0]
        expect(
            False,
            f"changing input row {k} moved output row {i} by {size:.3g}: position {i} sees "
            f"position {k}",
            MASK_HINT,
        )


def test_attention_sees_itself(student: Student) -> None:
    """SelfAttention: changing row k moves output row k (a position attends to itself)"""
    attn, rng = random_attention(student, "causal.self")
    x = rows(rng, 4, D)
    base = attn.forward(x).data
    for k in (3, 1):
        moved = attn.forward(_perturbed(x, k)).data
        expect(
            differ(base[k], moved[k]),
            f"changing input row {k} did not change output row {k}: position {k} must see "
            "itself (mask only j > i)",
            MASK_HINT,
        )


def test_attention_not_causal_sees_future(student: Student) -> None:
    """SelfAttention(causal=False): earlier rows do see later ones"""
    attn, rng = random_attention(student, "causal.off")
    x = rows(rng, 4, D)
    base = attn.forward(x, causal=False).data
    moved = attn.forward(_perturbed(x, 3), causal=False).data
    expect(
        differ(base[0], moved[0]),
        "with causal=False, changing the last row did not move output row 0; without the "
        "mask every position attends to every other",
        "Apply the mask only when causal is True.",
    )


def test_model_ignores_future_tokens(student: Student) -> None:
    """MiniGPT: changing token k never moves the logits before k"""
    rng = student.rng("causal.model")
    gpt = model(student, rng)
    randomize(gpt, rng, 0.5)
    v, n = MODEL["vocab_size"], MODEL["max_seq_len"]
    ids = [rng.randrange(v) for _ in range(n)]
    base = gpt.forward(ids, tokens=True).data
    if not same(gpt.forward(ids, tokens=True).data, base, 1e-9):
        return  # forward is not repeatable: the parameters check reports why
    attention_ok = not _attention_leaks(student)
    for k in (n - 1, n // 2, 1):
        changed = list(ids)
        changed[k] = (changed[k] + 1 + rng.randrange(v - 1)) % v
        moved = gpt.forward(changed, tokens=True).data
        for i in range(k):
            if same(base[i], moved[i], 1e-7):
                continue
            where = (
                "SelfAttention is causal on its own, so something else mixes positions: a "
                "LayerNorm or FeedForward applied across the positions instead of to each "
                "vector, or a block that passes the whole sequence where one row belongs."
                if attention_ok
                else MASK_HINT
            )
            expect(
                False,
                f"changing token {k} moved the logits at position {i} by "
                f"{max_abs_diff(base[i], moved[i]):.3g}: position {i} sees the future",
                where,
            )
