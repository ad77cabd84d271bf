"""Check `positional`: identical tokens get different logits at different positions.

Causal attention over identical rows gives identical rows, so without a
position embedding every position's logits are the same. The judge sets all
weights at random first, so a position table that starts at zero (as in
minGPT) is no obstacle.
"""

from __future__ import annotations

import random

import pytest

from grader.judge.remote import Remote, Student
from grader.suite.suite_support import MODEL, differ, expect, model, randomize, same

pytestmark = pytest.mark.check("positional")


def test_same_token_differs_by_position(student: Student) -> None:
    """The same token at every position gives position-dependent logits"""
    rng = student.rng("positional")
    gpt = model(student, rng)
    randomize(gpt, rng)
    n = MODEL["max_seq_len"]
    token = rng.randrange(MODEL["vocab_size"])
    out = gpt.forward([token] * n, tokens=True).data
    expect(
        any(differ(out[t], out[0]) for t in range(1, n)),
        f"with token {token} at all {n} positions, every position got the same logits: the "
        "model cannot tell positions apart",
        "Add a learned position embedding (one row per position t) to each token's "
        "embedding before the first block.",
    )


def _random_model(student: Student, name: str) -> tuple[Remote, list[int], random.Random]:
    """A MiniGPT with random weights and a random full-length input, for the tests below."""
    rng = student.rng(name)
    gpt = model(student, rng)
    randomize(gpt, rng, 0.5)
    ids = [rng.randrange(MODEL["vocab_size"]) for _ in range(MODEL["max_seq_len"])]
    return gpt, ids, rng


def test_logits_do_not_depend_on_later_length(student: Student) -> None:
    """Appending tokens never changes earlier logits: positions count from the start"""
    gpt, ids, _ = _random_model(student, "positional.prefix")
    n, v = MODEL["max_seq_len"], MODEL["vocab_size"]
    full = gpt.forward(ids, tokens=True).data
    changed = [*ids[:-1], (ids[-1] + 1) % v]
    if not all(
        same(a, b, 1e-7)
        for a, b in zip(full[:-1], gpt.forward(changed, tokens=True).data[:-1], strict=True)
    ):
        return  # not causal at a fixed length: the causal_mask check reports it
    for t in (1, n // 2):
        part = gpt.forward(ids[:t], tokens=True).data
        expect(
            all(same(a, b, 1e-7) for a, b in zip(part, full[:t], strict=True)),
            f"the logits of the first {t} tokens change when {n - t} more tokens follow: "
            "position t must get row t of the position table, counted from the start",
            "Use positions 0, 1, ..., T-1 for the T tokens (range(len(token_ids))).",
        )


def test_each_position_sees_its_own_token(student: Student) -> None:
    """Changing the token at position k changes the logits at k (tokens are embedded)"""
    gpt, ids, rng = _random_model(student, "positional.own")
    n, v = MODEL["max_seq_len"], MODEL["vocab_size"]
    base = gpt.forward(ids, tokens=True).data
    for k in (0, n - 1):
        changed = list(ids)
        changed[k] = (changed[k] + 1 + rng.randrange(v - 1)) % v
        moved = gpt.forward(changed, tokens=True).data
        expect(
            differ(base[k], moved[k]),
            f"changing token {k} did not change the logits at position {k}: the token "
            "embeddings do not reach the output",
            "Add the token embedding and the position embedding of each position, then run "
            "the blocks on that sum.",
        )
