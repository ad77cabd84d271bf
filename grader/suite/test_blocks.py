"""Check `blocks`: num_layers blocks, each used, chained, then a final norm before the head.

What is observed, whatever the class hierarchy or attribute names:
- Each extra layer adds exactly one TransformerBlock's parameters, and
  MiniGPT(num_layers=L) holds L distinct TransformerBlock objects (found by
  class wherever the model keeps them; [block] * L repeats one object).
- Every block object changes the logits when its weights change (blocks applied
  side by side to the embeddings, keeping one output, leave the others unused).
- A final norm bounds the logits: with one embedding table scaled by 1e3, then
  1e6, the residual stream grows a thousandfold, but a norm applied to it before
  the head keeps the logits where they were (without one they grow with it). At
  that scale the blocks' outputs are drowned in the stream, so changing every
  block's weights barely moves the logits, unless the norm sits before the
  blocks or inside the loop (then the last block's output reaches the head).

The scaled table is each of the model's Embedding objects in turn: at most one
of them (a tied token table) scales the head too. A model with fewer than two
Embedding objects is not judged by the final-norm tests.

False failures: none beyond rounding. With a final norm the logits at 1e6 differ
from those at 1e3 by about 1e-3 of their size (bound: 2x); the blocks move the
logits at scale 1e9 by about 1e-7 of their size (bound: 1e-4), against changes
of order 1 for the mistakes.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from grader.judge.remote import Part, Remote, Student
from grader.suite.suite_support import (
    MODEL,
    SMALL,
    build,
    differ,
    expect,
    fresh,
    max_abs_diff,
    model,
    randomize,
    repeatable,
    scale_of,
)

pytestmark = pytest.mark.check("blocks")

D, HEADS = MODEL["embed_dim"], MODEL["num_heads"]
NORM_HINT = (
    "After the blocks, normalise each position once more (the final LayerNorm) and feed "
    "that to the output projection: logits = head(ln_final(x))."
)
CHAIN_HINT = (
    "Chain the blocks: x = block(x) for each block in turn, then the final LayerNorm and "
    "the output projection on the last x."
)


def _blocks(parts: list[Part]) -> list[Part]:
    """The TransformerBlock objects a model holds (not counting blocks inside blocks)."""
    return [
        p
        for p in parts
        if p.cls == "TransformerBlock"
        and (p.within == -1 or parts[p.within].cls != "TransformerBlock")
    ]


def test_each_layer_has_its_own_block(student: Student) -> None:
    """Each extra layer adds one TransformerBlock, a distinct object"""
    rng = student.rng("blocks.size")
    block = build(student, rng, "TransformerBlock", D, HEADS).count().distinct
    counts, held = [], []
    for layers in (1, 2, 3):
        rng = student.rng(f"blocks.count.{layers}")
        gpt = model(student, rng, {**MODEL, "num_layers": layers})
        counts.append(gpt.count().distinct)
        held.append(len(_blocks(gpt.parts())))
    steps = [b - a for a, b in itertools.pairwise(counts)]
    expect(
        all(step == block for step in steps),
        f"MiniGPT with 1, 2, 3 layers has {counts[0]}, {counts[1]}, {counts[2]} parameters; "
        f"each layer should add one TransformerBlock ({block} parameters)",
        "Create a NEW TransformerBlock for every layer ([TransformerBlock(...) for _ in "
        "range(num_layers)]); [block] * num_layers repeats one object.",
    )
    if not any(held):
        return  # blocks not kept as TransformerBlock objects: the counts above decide
    expect(
        held == [1, 2, 3],
        f"MiniGPT with 1, 2, 3 layers holds {held[0]}, {held[1]}, {held[2]} TransformerBlock "
        "objects; it should hold exactly num_layers of them",
        "Build exactly num_layers blocks: [TransformerBlock(...) for _ in range(num_layers)].",
    )


def _gpt(student: Student, name: str, layers: int = 3) -> tuple[Remote, list[float], list[int]]:
    rng = student.rng(name)
    gpt = model(student, rng, {**SMALL, "num_layers": layers})
    theta = randomize(gpt, rng, 0.5)
    ids = [rng.randrange(SMALL["vocab_size"]) for _ in range(SMALL["max_seq_len"])]
    return gpt, theta, ids


def _moved(theta: list[float], members: list[int], by: Any) -> list[float]:
    moved = list(theta)
    for i in members:
        moved[i] = by(moved[i])
    return moved


def test_every_block_is_reached(student: Student) -> None:
    """With 3 layers, changing any one block's weights changes the logits"""
    if not repeatable(student, "MiniGPT"):
        return  # logits change from call to call: the parameters check reports why
    gpt, theta, ids = _gpt(student, "blocks.reach")
    rng = student.rng("blocks.reach.moves")
    blocks = [b for b in _blocks(gpt.parts()) if b.params]
    settings = [theta] + [_moved(theta, b.params, lambda w: w + rng.gauss(0, 0.5)) for b in blocks]
    base, *outs = (o.data for o in gpt.forward_with(settings, ids, tokens=True))
    gpt.set_params(theta)
    for block, out in zip(blocks, outs, strict=True):
        expect(
            differ(out, base),
            f"changing every weight of one of the 3 blocks (the one at {block.path}) did not "
            "change the logits: that block does not feed the output",
            CHAIN_HINT,
        )


def _scaled(student: Student) -> dict[str, Any] | None:
    """The logits with each Embedding table scaled by 1e3 and 1e6 (and, for the tables that
    keep them bounded, with every block's weights changed at 1e9); None if the model
    holds fewer than two Embedding objects with weights."""

    def run() -> dict[str, Any] | None:
        gpt, theta, ids = _gpt(student, "blocks.final", layers=2)
        parts = gpt.parts()
        tables = [p for p in parts if p.cls == "Embedding" and p.params]
        if len(tables) < 2:
            return None
        inside = sorted({i for b in _blocks(parts) for i in b.params})
        rng = student.rng("blocks.final.moves")
        found: dict[str, Any] = {"tables": [], "bounded": False, "drowned": None}
        for table in tables:
            settings = [_moved(theta, table.params, lambda w, a=a: w * a) for a in (1e3, 1e6)]
            small, large = (o.data for o in gpt.forward_with(settings, ids, tokens=True))
            growth = scale_of(large) / (1e-300 + scale_of(small))
            found["tables"].append((table.path, growth))
            if growth > 2.0:
                continue
            found["bounded"] = True
            if not inside:
                continue
            huge = _moved(theta, table.params, lambda w: w * 1e9)
            changed = _moved(huge, inside, lambda w: w + rng.gauss(0, 0.5))
            one, two = (o.data for o in gpt.forward_with([huge, changed], ids, tokens=True))
            found["drowned"] = max_abs_diff(one, two) / (1e-300 + scale_of(one))
            break
        return found

    return student.measure("blocks.final", run)


def test_final_norm_bounds_the_logits(student: Student) -> None:
    """A final norm: scaling an embedding table a thousandfold leaves the logits bounded"""
    if not repeatable(student, "MiniGPT"):
        return  # logits change from call to call: the parameters check reports why
    found = _scaled(student)
    if found is None:
        return  # fewer than two Embedding objects: not judged
    grew = ", ".join(f"{growth:.3g}x with {path} scaled" for path, growth in found["tables"])
    expect(
        found["bounded"],
        "scaling an embedding table from 1e3 to 1e6 made the logits grow with it "
        f"({grew}): nothing normalises the last block's output before the output projection",
        NORM_HINT,
    )


def test_head_reads_the_final_norm(student: Student) -> None:
    """The final norm comes after the last block, just before the output projection"""
    if not repeatable(student, "MiniGPT"):
        return
    found = _scaled(student)
    if found is None or found["drowned"] is None:
        return  # no final norm (reported above) or no blocks of the student's class
    expect(
        found["drowned"] <= 1e-4,
        "with an embedding table scaled by 1e9 the blocks' outputs are drowned in the "
        "residual stream, so a norm applied to it just before the head makes the blocks "
        f"irrelevant; here changing every block's weights moved the logits by "
        f"{found['drowned']:.3g} of their size: the final norm is not the last step before "
        "the head (applied before the blocks, or inside the loop?)",
        NORM_HINT,
    )


# --- the whole chain, from the model's own parts -------------------------------

Rows = list[list[float]]


def _add(a: Rows, b: Rows) -> Rows:
    return [[x + y for x, y in zip(ra, rb, strict=True)] for ra, rb in zip(a, b, strict=True)]


def _affine_residual(inputs: Rows, outputs: Rows) -> float:
    """How far ``outputs`` are from an affine function of ``inputs`` (least squares over the
    rows), relative to their size: about 1e-13 when they are one."""
    columns = [[1.0] * len(inputs), *([row[j] for row in inputs] for j in range(len(inputs[0])))]
    basis: Rows = []
    for column in columns:  # modified Gram-Schmidt
        v = list(column)
        for q in basis:
            dot = sum(a * b for a, b in zip(v, q, strict=True))
            v = [a - dot * b for a, b in zip(v, q, strict=True)]
        norm = sum(a * a for a in v) ** 0.5
        if norm > 1e-9 * (1.0 + max(abs(a) for a in column)):
            basis.append([a / norm for a in v])
    worst = 0.0
    for k in range(len(outputs[0])):
        y = [row[k] for row in outputs]
        rest = list(y)
        for q in basis:
            dot = sum(a * b for a, b in zip(rest, q, strict=True))
            rest = [a - dot * b for a, b in zip(rest, q, strict=True)]
        worst = max(worst, max(abs(a) for a in rest))
    return worst / (1e-300 + scale_of(outputs))


def _chain(student: Student) -> str | None:
    """Are the logits an affine function (the head) of final_norm(block2(block1(tokens +
    positions))), all computed from the model's own parts? "ok", the name of a known
    mistake the logits fit instead, "other", or None when the model's parts cannot tell
    (no token and position Embedding of their own sizes, no final LayerNorm object, not
    two TransformerBlock objects)."""

    def run() -> str | None:
        fresh(student)
        rng = student.rng("blocks.chain")
        gpt = model(student, rng, SMALL)
        randomize(gpt, rng, 0.5)
        v, n, d = SMALL["vocab_size"], SMALL["max_seq_len"], SMALL["embed_dim"]
        parts = gpt.parts()
        sized = {len(p.params): p for p in parts if p.cls == "Embedding"}
        blocks = _blocks(parts)
        finals = [
            p
            for p in parts
            if p.cls == "LayerNorm" and (p.within == -1 or parts[p.within].cls == "MiniGPT")
        ]
        if v * d not in sized or n * d not in sized or len(blocks) != 2 or len(finals) != 1:
            return None
        tokens, positions, final = sized[v * d].remote, sized[n * d].remote, finals[0].remote
        inputs = [[rng.randrange(v) for _ in range(n)] for _ in range(3)]
        logits = [o.data for o in gpt.forward_many(inputs, tokens=True, apart=True)]
        embedded = [o.data for o in tokens.forward_many(inputs, tokens=True)]
        where = positions.forward(list(range(n)), tokens=True).data
        flat_logits = [row for out in logits for row in out]

        def fits(streams: list[Rows]) -> bool:
            normed = [o.data for o in final.forward_many([row for s in streams for row in s])]
            return _affine_residual(normed, flat_logits) <= 1e-8

        def through(x: Rows, order: list[Part], extra: bool = False) -> Rows:
            for block in order:
                out = block.remote.forward(x).data
                x = _add(x, out) if extra else out
            return x

        for order in (blocks, blocks[::-1]):
            if fits([through(_add(e, where), order) for e in embedded]):
                return "ok"
        if fits([_add(through(e, blocks), where) for e in embedded]):
            return "positions after the blocks"
        if fits([through(_add(e, where), blocks, extra=True) for e in embedded]):
            return "x + block(x)"
        return "other"

    return student.measure("blocks.chain", run)


def test_logits_read_the_chained_blocks(student: Student) -> None:
    """The logits are the head of final_norm(block_L(... block_1(tokens + positions)))"""
    if not repeatable(student, "MiniGPT") or not _final_norm_judged_ok(student):
        return  # reported by the tests above, or by the parameters check
    found = _chain(student)
    if found in (None, "ok", "positions after the blocks"):
        return  # not judged, right, or the positional check's mistake
    detail = (
        "each layer computes x + block(x): the block already adds its input, so x = block(x)"
        if found == "x + block(x)"
        else "the blocks are not applied one after another to tokens + positions"
    )
    expect(
        False,
        "with random weights, the logits are not the output projection of the final norm of "
        "the last block's output, computed from the model's own Embedding, TransformerBlock "
        f"and LayerNorm objects: {detail}",
        CHAIN_HINT,
    )


def _final_norm_judged_ok(student: Student) -> bool:
    found = _scaled(student)
    return found is None or (
        found["bounded"] and (found["drowned"] is None or found["drowned"] <= 1e-4)
    )


def positions_after_the_blocks(student: Student) -> bool:
    """Do the logits fit positions added after the blocks (the positional check's)?"""
    return _chain(student) == "positions after the blocks"
