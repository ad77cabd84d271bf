"""Check `max_seq_len`: any T up to max_seq_len works, a longer input is refused.

Any T up to max_seq_len, whatever the vocabulary: with a vocabulary smaller than
max_seq_len too (a length limit or a position table sized by vocab_size fails
there).

False failures: none (no random draw decides it).
"""

from __future__ import annotations

import pytest

from grader.judge.failures import StudentError
from grader.judge.remote import Student
from grader.suite.suite_support import MODEL, expect, model
from grader.suite.test_positional import positions_use_token_table

pytestmark = pytest.mark.check("max_seq_len")

CONFIG = {**MODEL, "max_seq_len": 4}


def test_full_context_works(student: Student) -> None:
    """T == max_seq_len (and T = 1) work"""
    rng = student.rng("max_seq_len.ok")
    gpt = model(student, rng, CONFIG)
    for t in (4, 1):
        ids = [rng.randrange(CONFIG["vocab_size"]) for _ in range(t)]
        shape = gpt.forward(ids, tokens=True).shape
        expect(
            shape == [t, CONFIG["vocab_size"]],
            f"with max_seq_len=4, {t} tokens gave logits of shape {tuple(shape)}",
        )


def test_longer_input_raises(student: Student) -> None:
    """T > max_seq_len raises an exception (any type) instead of returning logits"""
    rng = student.rng("max_seq_len.long")
    gpt = model(student, rng, CONFIG)
    for t in (5, 7):
        ids = [rng.randrange(CONFIG["vocab_size"]) for _ in range(t)]
        try:
            gpt.forward(ids, tokens=True)
        except StudentError as exc:
            if exc.kind == "exception":
                continue  # raising is the point; any exception type will do
            raise
        expect(
            False,
            f"with max_seq_len=4, MiniGPT accepted {t} tokens and returned logits",
            "Raise an exception (ValueError, say) when len(token_ids) > max_seq_len instead "
            "of silently reusing or inventing position rows.",
        )


def test_any_vocabulary_size(student: Student) -> None:
    """T == max_seq_len works with a vocabulary smaller than max_seq_len"""
    if positions_use_token_table(student):
        return  # positions read from the token table: the positional check names it
    v, n = 3, MODEL["max_seq_len"]
    rng = student.rng("max_seq_len.small_vocab")
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
            "Any T up to max_seq_len must work, whatever vocab_size: compare the length with "
            "max_seq_len, and give positions a table of max_seq_len rows of their own.",
        )
        return
    expect(shape == [n, v], f"with vocab_size={v}, {n} tokens gave logits of shape {shape}")
