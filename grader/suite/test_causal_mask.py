"""Check `causal_mask`: no output depends on a later position (unless causal=False).

Every input whose output is compared with another's is answered apart (a fork of
the worker that forgets it), so neither a memory of earlier inputs nor a size
check can fake a mask: the layer's size is drawn per grading, never the size
other checks use and reveal in their messages.

False failures: "no earlier output moves" is exact for a correct model (only
rounding, far below the 1e-7 tolerance). "A position sees itself" and
"causal=False lets the future in" need the change to show: with weights of
N(0, 0.25) a softmax cannot saturate enough to hide it, and a draw that hides it
anyway (probability far below 1e-6) is redrawn up to 3 times before the check fails.
"""

from __future__ import annotations

import random

import pytest

from grader.judge.remote import Remote, Student
from grader.suite.suite_support import (
    MODEL,
    apart,
    differ,
    expect,
    fresh,
    informative,
    max_abs_diff,
    model,
    randomize,
    repeatable,
    rows,
    same,
)
from grader.suite.test_attention import SCALE, D, random_attention

pytestmark = pytest.mark.check("causal_mask")

DRAWS = 3
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
        # Never D, the size other checks use (their shape messages reveal it): a mask
        # applied only at known sizes must be caught in every grading, not in most.
        d = student.rng("causal.attention.size").choice((3, 5, 6))
        attn, _ = random_attention(student, "causal.attention", d=d)
        x = rows(student.rng("causal.attention.input"), 5, d)
        keys = (4, 2, 1)
        base, *moved = apart(attn, [x, *(_perturbed(x, k) for k in keys)])
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
    if not repeatable(student, "SelfAttention"):
        return  # outputs change from call to call: the parameters check reports why
    leaks = _attention_leaks(student)
    if leaks:
        k, i, size = leaks[0]
        expect(
            False,
            f"changing input row {k} moved output row {i} by {size:.3g}: position {i} sees "
            f"position {k}",
            MASK_HINT,
        )


def _moves(student: Student, name: str, row: int, causal: bool) -> bool:
    """Does changing input row ``row`` move output row ``row`` (causal) or row 0
    (causal=False) on some of DRAWS random draws of the weights and input?"""

    def attempt(rng: random.Random) -> bool:
        fresh(student)
        attn = student.build("SelfAttention", D, seed=rng.randrange(2**31))
        randomize(attn, rng, SCALE)
        x = rows(rng, 4, D)
        base, moved = apart(attn, [x, _perturbed(x, row)], causal=causal)
        watched = row if causal else 0
        return differ(base[watched], moved[watched])

    return student.measure(name, lambda: informative(attempt, student.rng(name), DRAWS))


def test_attention_sees_itself(student: Student) -> None:
    """SelfAttention: changing row k moves output row k (a position attends to itself)"""
    for k in (3, 1):
        expect(
            _moves(student, f"causal.self.{k}", k, causal=True),
            f"changing input row {k} did not change output row {k}: position {k} must see "
            "itself (mask only j > i)",
            MASK_HINT,
        )


def test_attention_not_causal_sees_future(student: Student) -> None:
    """SelfAttention(causal=False): earlier rows do see later ones"""
    expect(
        _moves(student, "causal.off", 3, causal=False),
        "with causal=False, changing the last row did not move output row 0; without the "
        "mask every position attends to every other",
        "Apply the mask only when causal is True.",
    )


def test_model_ignores_future_tokens(student: Student) -> None:
    """MiniGPT: changing token k never moves the logits before k"""
    if not repeatable(student, "MiniGPT"):
        return  # logits change from call to call: the parameters check reports why
    # Never MODEL's embed_dim (8), which other checks use and reveal; even for 2 heads.
    size = student.rng("causal.model.size").choice((6, 10))
    fresh(student)
    rng = student.rng("causal.model")
    gpt: Remote = model(student, rng, {**MODEL, "embed_dim": size})
    randomize(gpt, rng, 0.5)
    rng = student.rng("causal.model.input")
    v, n = MODEL["vocab_size"], MODEL["max_seq_len"]
    ids = [rng.randrange(v) for _ in range(n)]
    keys = (n - 1, n // 2, 1)
    changed = []
    for k in keys:
        other = list(ids)
        other[k] = (other[k] + 1 + rng.randrange(v - 1)) % v
        changed.append(other)
    first, *moved_all = apart(gpt, [ids, *changed], tokens=True)
    attention_ok = not _attention_leaks(student)
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
