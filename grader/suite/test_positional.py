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

from grader.judge.remote import Remote, Student
from grader.suite.suite_support import (
    SMALL,
    apart,
    differ,
    expect,
    fresh,
    model,
    randomize,
    repeatable,
    same,
)
from grader.suite.test_attention import length_independent
from grader.suite.test_blocks import positions_after_the_blocks

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
    """A MiniGPT with random weights and a random full-length input, for the tests below,
    in a fresh worker (see suite_support.apart)."""
    fresh(student)
    rng = student.rng(name)
    gpt = model(student, rng, SMALL)
    randomize(gpt, rng, 0.5)
    ids = [rng.randrange(SMALL["vocab_size"]) for _ in range(SMALL["max_seq_len"])]
    return gpt, ids, rng


def test_logits_do_not_depend_on_later_length(student: Student) -> None:
    """Appending tokens never changes earlier logits: positions count from the start"""
    if not repeatable(student, "MiniGPT") or not length_independent(student):
        return  # outputs change from call to call, or attention depends on T: named elsewhere
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


def _absent_row_effect(student: Student) -> str | None:
    """Perturb the token table's row of a token the input does not hold: the logits may
    change only in that token's own column (a tied head reads the row), never elsewhere.
    The position at which something else moved, or None (also when the model keeps no
    token table the judge can tell apart: then this is not judged)."""

    def run() -> str | None:
        fresh(student)
        rng = student.rng("positional.absent")
        gpt = model(student, rng, SMALL)
        theta = randomize(gpt, rng, 0.5)
        v, n, d = SMALL["vocab_size"], SMALL["max_seq_len"], SMALL["embed_dim"]
        tables = [p for p in gpt.parts() if p.cls == "Embedding" and len(p.params) == v * d]
        if len(tables) != 1:
            return None  # no token table of its own size (or two): not judged
        absent = rng.randrange(n)  # a position index: a model reading it as a token sees it
        ids = [rng.choice([t for t in range(v) if t != absent]) for _ in range(n)]
        row = set(tables[0].remote.forward([absent], tokens=True, keep=True).leaves())
        index = {token: i for i, token in enumerate(gpt.tokens())}
        members = [index[t] for t in row if t in index]
        if not members:
            return None
        moved = list(theta)
        for i in members:
            moved[i] += rng.gauss(0.0, 0.5)
        base, other = (o.data for o in gpt.forward_with([theta, moved], ids, tokens=True))
        gpt.set_params(theta)
        for t, (a, b) in enumerate(zip(base, other, strict=True)):
            rest_a = [z for k, z in enumerate(a) if k != absent]
            rest_b = [z for k, z in enumerate(b) if k != absent]
            if differ(rest_a, rest_b):
                return f"{t} (token {absent} is not in the input)"
        return None

    return student.measure("positional.absent", run)


def positions_use_token_table(student: Student) -> bool:
    """Does some position read the token table (a position embedding looked up in it)?"""
    return _absent_row_effect(student) is not None


def test_positions_do_not_read_the_token_table(student: Student) -> None:
    """The token table's rows reach the logits only for the tokens in the input"""
    if not repeatable(student, "MiniGPT"):
        return
    where = _absent_row_effect(student)
    expect(
        where is None,
        f"changing the token table's row of a token absent from the input moved the logits "
        f"at position {where}: positions are looked up in the token table",
        "Positions get a table of their own, Embedding(max_seq_len, embed_dim), looked up "
        "with 0..T-1; the token table is looked up with the token ids only.",
    )


def test_positions_enter_before_the_blocks(student: Student) -> None:
    """Positions are added to the token embeddings before the first block"""
    expect(
        not positions_after_the_blocks(student),
        "the logits are the output projection of final_norm(blocks(tokens) + positions): the "
        "position embedding is added after the blocks, so attention never sees positions",
        "Add the token embedding and the position embedding of each position, then run the "
        "blocks on that sum.",
    )
