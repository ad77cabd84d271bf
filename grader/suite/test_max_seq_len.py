"""Check `max_seq_len`: T up to max_seq_len works, longer inputs raise."""

from __future__ import annotations

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import MODEL, expect, shape_text

pytestmark = pytest.mark.check("max_seq_len")

CONFIG = {**MODEL, "max_seq_len": 4}


def test_full_context_works(student: Subject) -> None:
    """T == max_seq_len (and T == 1) run and return (T, V) logits"""
    results = student.run("forward_raises", config=CONFIG, inputs=[[1, 2, 3, 4], [5]])
    for t, result in zip((4, 1), results, strict=True):
        expect(
            not result["raised"],
            f"MiniGPT(max_seq_len=4).forward raised {result['type']} for T = {t}; inputs up to "
            "max_seq_len tokens are valid",
        )
        want = [t, CONFIG["vocab_size"]]
        expect(
            result["shape"] == want,
            f"MiniGPT.forward with T = {t} returned {shape_text(result['shape'])}; expected "
            f"{shape_text(want)}",
        )


def test_longer_input_raises(student: Subject) -> None:
    """T > max_seq_len raises an exception"""
    results = student.run("forward_raises", config=CONFIG, inputs=[[1, 2, 3, 4, 5], [0] * 7])
    for t, result in zip((5, 7), results, strict=True):
        expect(
            result["raised"],
            f"MiniGPT(max_seq_len=4).forward accepted T = {t} tokens and returned "
            f"{shape_text(result['shape'] or [])}; it must raise for T > max_seq_len",
            "Check len(token_ids) <= self.max_seq_len at the top of forward and raise "
            "(ValueError is a good choice) otherwise.",
        )
