"""Check `blocks`: num_layers blocks, each with its own weights, chained, then a final norm.

- One layer has one TransformerBlock's parameters plus the embeddings, a final
  norm and the head (so exactly num_layers blocks are built), and each extra
  layer adds exactly one block's worth (one block object repeated adds none).
- The logits depend on every block: with random weights, changing all the
  weights of any one TransformerBlock object changes the logits (blocks
  applied side by side to the embeddings, keeping only the last output, leave
  the others without effect). Behaviour, not the graph the student's code
  built, decides.
- A final LayerNorm runs after the last block: counting the calls of the
  student's LayerNorm.forward in one MiniGPT forward, each extra layer adds
  2k calls (two norms, k calls each: one per row, or one per matrix) and one
  layer gives 3k (two in the block, one final). A model that does not use its
  LayerNorm class in the blocks (k = 0) is not judged by this test.
"""

from __future__ import annotations

import itertools

import pytest

from grader.judge.remote import Student
from grader.suite.suite_support import MODEL, build, differ, expect, model, randomize

pytestmark = pytest.mark.check("blocks")

D, HEADS = MODEL["embed_dim"], MODEL["num_heads"]


def _block_size(student: Student) -> int:
    rng = student.rng("blocks.size")
    return build(student, rng, "TransformerBlock", D, HEADS).count().distinct


def test_each_layer_has_its_own_block(student: Student) -> None:
    """Each extra layer adds one TransformerBlock's parameters"""
    block = _block_size(student)
    counts = []
    for layers in (1, 2, 3):
        rng = student.rng(f"blocks.count.{layers}")
        counts.append(model(student, rng, {**MODEL, "num_layers": layers}).count().distinct)
    steps = [b - a for a, b in itertools.pairwise(counts)]
    v, d, n = MODEL["vocab_size"], D, MODEL["max_seq_len"]
    outside = {  # token and position tables, a final norm (gain/bias or none), the head
        v * d + n * d + norm + head
        for norm in (0, 2 * d)
        for head in (0, v, d * v, d * v + v)  # tied (with or without a bias) or its own
    }
    expect(
        counts[0] - block in outside,
        f"MiniGPT with 1 layer has {counts[0]} parameters: with one TransformerBlock "
        f"({block}), the embeddings ({v}x{d} and {n}x{d}), a final LayerNorm and the output "
        f"Linear it would have one of {sorted(x + block for x in outside)}",
        "Build exactly num_layers blocks: for _ in range(num_layers).",
    )
    expect(
        all(step == block for step in steps),
        f"MiniGPT with 1, 2, 3 layers has {counts[0]}, {counts[1]}, {counts[2]} parameters; "
        f"each layer should add one TransformerBlock ({block} parameters)",
        "Create a NEW TransformerBlock for every layer ([TransformerBlock(...) for _ in "
        "range(num_layers)]); [block] * num_layers repeats one object.",
    )


def test_every_block_is_reached(student: Student) -> None:
    """With 3 layers, changing any one block's weights changes the logits"""
    rng = student.rng("blocks.reach")
    gpt = model(student, rng, {**MODEL, "num_layers": 3})
    theta = randomize(gpt, rng, 0.5)
    index = {token: i for i, token in enumerate(gpt.tokens())}
    groups: dict[int, list[int]] = {}
    where: dict[int, str] = {}
    for token, (path, block) in gpt.held().items():
        if block >= 0 and token in index:
            groups.setdefault(block, []).append(index[token])
            where.setdefault(block, path)
    if len(groups) < 3:
        return  # fewer block objects hold listed weights: the count test above reports it
    n, v = MODEL["max_seq_len"], MODEL["vocab_size"]
    ids = [rng.randrange(v) for _ in range(n)]
    base = gpt.forward(ids, tokens=True).data
    for block, members in sorted(groups.items()):
        moved = list(theta)
        for i in members:
            moved[i] += rng.gauss(0.0, 0.5)
        gpt.set_params(moved)
        expect(
            differ(gpt.forward(ids, tokens=True).data, base),
            f"changing every weight of one of the 3 blocks (the one holding {where[block]}) did "
            "not change the logits: that block does not feed the output",
            "Chain the blocks: x = block(x) for each block in turn, then the final LayerNorm "
            "and the output projection on the last x.",
        )
    gpt.set_params(theta)


def test_final_layernorm(student: Student) -> None:
    """A final LayerNorm is applied after the last block"""
    counts = []
    for layers in (1, 2):
        rng = student.rng(f"blocks.final.{layers}")
        gpt = model(student, rng, {**MODEL, "num_layers": layers})
        ids = [rng.randrange(MODEL["vocab_size"]) for _ in range(4)]
        counts.append(gpt.count_calls("LayerNorm", ids, tokens=True))
    one, two = counts
    per_norm = (two - one) / 2
    if one < 0 or per_norm <= 0:
        return  # LayerNorm.forward is not the student's own, or not used in the blocks
    expect(
        one - 2 * per_norm != 0,
        f"with one layer, LayerNorm.forward ran {one} times, no more than the block's own two "
        "norms need: the final LayerNorm after the last block is missing",
        "After the blocks, normalise each position once more (the final LayerNorm) before the "
        "output projection.",
    )
