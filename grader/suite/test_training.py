"""Check `training`: plain SGD lowers the loss on a tiny corpus."""

from __future__ import annotations

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import expect

pytestmark = pytest.mark.check("training")

CONFIG = {"vocab_size": 5, "embed_dim": 8, "num_heads": 1, "num_layers": 1, "max_seq_len": 8}
# "abcdabca b" as ids: a short, learnable pattern.
IDS = [0, 1, 2, 3, 0, 1, 2, 3, 4]
STEPS = 40
REQUIRED_DROP = 0.2


def test_sgd_lowers_the_loss(student: Subject) -> None:
    """40 steps of SGD cut the loss on one short sequence by at least 20%"""
    tried = []
    for lr in (0.3, 0.1, 0.5):
        losses = student.run("train", budget=6.0, config=CONFIG, ids=IDS, steps=STEPS, lr=lr)[
            "losses"
        ]
        first, last = losses[0], min(losses[-5:])
        tried.append(f"lr {lr}: {first:.3f} -> {last:.3f}")
        if last <= (1 - REQUIRED_DROP) * first:
            return
    expect(
        False,
        f"SGD did not lower the loss by {REQUIRED_DROP:.0%} in {STEPS} steps ({'; '.join(tried)})",
    )
