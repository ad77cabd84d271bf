"""Check `positional`: identical tokens get different logits at different positions.

Causal attention over identical rows gives identical rows, so without a
position embedding every position's logits are the same. The judge sets all
weights at random first, so a position table that starts at zero (as in
minGPT) is no obstacle. Positions have a table of their own, of max_seq_len
rows: a vocabulary smaller than max_seq_len must work at every position (a
model that looks positions up in the token table, or sizes the position table
by the vocabulary, fails there). Inputs whose outputs are compared are answered
apart (see suite_support.apart).

False failures: none; each property is exact for a correct model (the
"different" ones need a difference above 1e-7 of the logits' size, which random
weights give except on a set of draws of probability zero).
"""

from __future__ import annotations

import random

import pytest

from grader.judge.failures import StudentError
from grader.judge.remote import Remote, Student
from grader.suite.suite_support import (
    MODEL,
    SMALL,
    apart,
    differ,
    expect,
    model,
    randomize,
    repeatable,
    same,
)

pytestmark = pytest.mark.check("positional")


def test_same_token_differs_by_position(student: Student) -> None:
    """The same token at every position gives position-dependent logits"""
    rng = student.rng("positional")
    gpt = model(student, rng, SMALL)
    randomize(gpt, rng, 0.5)
    n = SMALL["max_seq_len"]
    token = rng.randrange(SMALL["vocab_size"])
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
    gpt = model(student, rng, SMALL)
    randomize(gpt, rng, 0.5)
    ids = [rng.randrange(SMALL["vocab_size"]) for _ in range(SMALL["max_seq_len"])]
    return gpt, ids, rng


def test_logits_do_not_depend_on_later_length(student: Student) -> None:
    """Appending tokens never changes earlier logits: positions count from the start"""
    if not repeatable(student, "MiniGPT"):
        return  # logits change from call to call: the parameters check reports why
    gpt, ids, _ = _random_model(student, "positional.prefix")
    n, v = SMALL["max_seq_len"], SMALL["vocab_size"]
    changed = [*ids[:-1], (ids[-1] + 1) % v]
    full, other, *parts = apart(gpt, [ids, changed, ids[:1], ids[: n // 2]], tokens=True)
    if not all(same(a, b, 1e-7) for a, b in zip(full[:-1], other[:-1], strict=True)):
        return  # not causal at a fixed length: the causal_mask check reports it
    for t, part in zip((1, n // 2), parts, strict=True):
        expect(
            all(same(a, b, 1e-7) for a, b in zip(part, full[:t], strict=True)),
            f"the logits of the first {t} tokens change when {n - t} more tokens follow: "
            "position t must get row t of the position table, counted from the start",
            "Use positions 0, 1, ..., T-1 for the T tokens (range(len(token_ids))).",
        )


def test_each_position_sees_its_own_token(student: Student) -> None:
    """Changing the token at position k changes the logits at k (tokens are embedded)"""
    if not repeatable(student, "MiniGPT"):
        return
    gpt, ids, rng = _random_model(student, "positional.own")
    n, v = SMALL["max_seq_len"], SMALL["vocab_size"]
    changed = []
    for k in (0, n - 1):
        other = list(ids)
        other[k] = (other[k] + 1 + rng.randrange(v - 1)) % v
        changed.append(other)
    base, *moved_all = apart(gpt, [ids, *changed], tokens=True)
    for k, moved in zip((0, n - 1), moved_all, strict=True):
        expect(
            differ(base[k], moved[k]),
            f"changing token {k} did not change the logits at position {k}: the token "
            "embeddings do not reach the output",
            "Add the token embedding and the position embedding of each position, then run "
            "the blocks on that sum.",
        )


def test_positions_have_a_table_of_their_own(student: Student) -> None:
    """A vocabulary smaller than max_seq_len works at every position"""
    v, n = 3, MODEL["max_seq_len"]
    rng = student.rng("positional.small_vocab")
    gpt = model(student, rng, {**MODEL, "vocab_size": v})
    ids = [i % v for i in range(n)]
    try:
        shape = gpt.forward(ids, tokens=True).shape
    except StudentError as exc:
        if exc.kind != "exception":
            raise
        expect(
            False,
            f"with vocab_size={v} and max_seq_len={n}, MiniGPT failed on {n} tokens: {exc}",
            "Positions get a table of their own with max_seq_len rows (Embedding(max_seq_len, "
            "embed_dim)), looked up with 0..T-1; the token table has vocab_size rows.",
        )
        return
    expect(shape == [n, v], f"with vocab_size={v}, {n} tokens gave logits of shape {shape}")
