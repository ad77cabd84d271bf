"""Check `causal_mask`: no output depends on a later position (unless causal=False)."""

from __future__ import annotations

import pytest

from grader.judge.remote import Remote, Student
from grader.suite.suite_support import (
    MODEL,
    differ,
    expect,
    in_fresh_workers,
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
    """(k, i, size) for every earlier output row i that moved when row k changed.

    The size of the layer is drawn per grading, and every input is run in a
    worker of its own, so neither a size check nor a memory of earlier inputs
    can fake a mask.
    """

    def run() -> list[tuple[int, int, float]]:
        # Never D, the size other checks use (their shape messages reveal it): a mask
        # applied only at known sizes must be caught in every grading, not in most.
        d = student.rng("causal.attention.size").choice((3, 5, 6))

        def make() -> Remote:
            attn, _ = random_attention(student, "causal.attention", d=d)
            return attn

        x = rows(student.rng("causal.attention.input"), 5, d)
        keys = (4, 2, 1)
        base, *moved = in_fresh_workers(student, make, [x, *(_perturbed(x, k) for k in keys)])
        leaks = []
        for k, out in zip(keys, moved, strict=True):
            leaks += [
                (k, i, max_abs_diff(base[i], out[i]))
                for i in range(k)
                if not same(base[i], out[i], 1e-7)
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
    # Never MODEL's embed_dim (8), which other checks use and reveal; even for 2 heads.
    size = student.rng("causal.model.size").choice((6, 10))
    config = {**MODEL, "embed_dim": size}

    def make() -> Remote:
        rng = student.rng("causal.model")
        gpt = model(student, rng, config)
        randomize(gpt, rng, 0.5)
        return gpt

    rng = student.rng("causal.model.input")
    v, n = MODEL["vocab_size"], MODEL["max_seq_len"]
    ids = [rng.randrange(v) for _ in range(n)]
    first, again = in_fresh_workers(student, make, [ids, ids], tokens=True)
    if not same(first, again, 1e-9):
        return  # forward is not repeatable: the parameters check reports why
    attention_ok = not _attention_leaks(student)
    keys = (n - 1, n // 2, 1)
    changed = []
    for k in keys:
        other = list(ids)
        other[k] = (other[k] + 1 + rng.randrange(v - 1)) % v
        changed.append(other)
    moved_all = in_fresh_workers(student, make, changed, tokens=True)
    for k, moved in zip(keys, moved_all, strict=True):
        for i in range(k):
            if same(first[i], moved[i], 1e-7):
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
                f"{max_abs_diff(first[i], moved[i]):.3g}: position {i} sees the future",
                where,
            )
