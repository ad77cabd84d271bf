"""Check `residual`: the block is x1 = x + attn(ln1(x)); out = x1 + ff(ln2(x1)).

The composition is observed, not inferred: the judge sets the block's weights at
random, finds the block's own SelfAttention, FeedForward and LayerNorm objects
(by class, wherever the block keeps them), runs each of them alone on the
inputs the formula gives them, and checks that the block's output is exactly
x1 + ff(ln2(x1)) with x1 = x + attn(ln1(x)), for some assignment of the block's
norms to ln1 and ln2 (two different ones; a block that keeps a single norm may
use it for both). The block's forward is answered
apart from the parts' (a fork that forgets it), so nothing it computed can shape
what the parts answer. A block that keeps
no SelfAttention or FeedForward object of the student's classes is not judged by
that test (there are no parts to compose).

With every parameter set to 0, a correct SelfAttention and FeedForward return
zeros: a branch that adds its own input (a residual inside the branch) does not.

False failures: none; both properties are exact for every correct model, up to
rounding (tolerance 1e-9 of the numbers' size).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from grader.judge.remote import Part, Remote, Student
from grader.suite.suite_support import (
    build,
    expect,
    fmt,
    randomize,
    repeatable,
    rows,
    same,
)
from grader.suite.test_attention import attention_is_judged

pytestmark = pytest.mark.check("residual")

D, T = 4, 3
BRANCH_HINT = (
    "The residual connection belongs to TransformerBlock alone: SelfAttention and "
    "FeedForward return only their own output, and the block adds it to x."
)
BLOCK_HINT = (
    "x = x + attn(ln1(x)); x = x + ff(ln2(x)): normalise each branch's input, add the "
    "branch output to the un-normalised x, and feed the second branch the first one's sum."
)

Rows = list[list[float]]


def _add(a: Rows, b: Rows) -> Rows:
    return [[x + y for x, y in zip(ra, rb, strict=True)] for ra, rb in zip(a, b, strict=True)]


class Parts:
    """A block's parts, each run alone; outputs of a wrong shape: None. (The block's own
    forward is answered apart, so nothing the parts see here can shape it, nor the
    reverse.)"""

    def __init__(self, attn: Part, ff: Part, norms: list[Part]) -> None:
        self.attn, self.ff, self.norms = attn.remote, ff.remote, [n.remote for n in norms]

    @staticmethod
    def _rows(remote: Remote, inputs: Rows) -> Rows | None:
        outs = [o.data for o in remote.forward_many(inputs)]
        ok = all(isinstance(o, list) and len(o) == D and not isinstance(o[0], list) for o in outs)
        return outs if ok else None

    def norm(self, n: Remote, x: Rows) -> Rows | None:
        return self._rows(n, x)

    def attend(self, x: Rows) -> Rows | None:
        out = self.attn.forward_many([x])[0].data
        ok = len(out) == len(x) and all(isinstance(r, list) and len(r) == D for r in out)
        return out if ok else None

    def feed(self, x: Rows) -> Rows | None:
        return self._rows(self.ff, x)


def _candidates(parts: Parts, x: Rows) -> dict[str, Rows] | None:
    """The block's output for every assignment of its norms, by the pre-norm formula."""
    found: dict[str, Rows] = {}
    normed = {i: parts.norm(n, x) for i, n in enumerate(parts.norms)}
    for i, n1 in normed.items():
        branch = parts.attend(n1) if n1 is not None else None
        if branch is None:
            return None
        x1 = _add(x, branch)
        for j, ln2 in enumerate(parts.norms):
            if j == i and len(parts.norms) > 1:
                continue  # a block with two norms uses both: one each branch
            n2 = parts.norm(ln2, x1)
            fed = parts.feed(n2) if n2 is not None else None
            if fed is None:
                return None
            found[f"{i},{j}"] = _add(x1, fed)
    return found


def _diagnose(parts: Parts, x: Rows, out: Rows) -> str | None:
    """Which common mistake the block's output matches, with the first norm pair."""
    if len(parts.norms) == 0:
        return None
    ln1, ln2 = parts.norms[0], parts.norms[-1]
    n1 = parts.norm(ln1, x)
    n2x = parts.norm(ln2, x)
    if n1 is None or n2x is None:
        return None
    attn_n, attn_x = parts.attend(n1), parts.attend(x)
    if attn_n is None or attn_x is None:
        return None
    x1 = _add(x, attn_n)
    n2 = parts.norm(ln2, x1)
    ff_n2, ff_x1, ff_n2x = (parts.feed(v) if v is not None else None for v in (n2, x1, n2x))
    if ff_n2 is None or ff_x1 is None or ff_n2x is None:
        return None
    sums = {
        "x + attn(ln1(x)) + ff(ln2(x)): both branches read x (a parallel block); the "
        "feed-forward branch must read x1 = x + attn(ln1(x))": _add(x1, ff_n2x),
        "x + ff(ln2(x1)): the second residual adds to x instead of to x1 = x + attn(ln1(x))": (
            _add(x, ff_n2)
        ),
        "x + attn(x) + ...: the attention branch gets x itself, not ln1(x)": None,
        "x1 + ff(x1): the feed-forward branch gets x1 itself, not ln2(x1)": _add(x1, ff_x1),
        "attn(ln1(x)) + ff(...): the attention branch's output is not added to x": None,
    }
    x1_raw = _add(x, attn_x)
    n2_raw = parts.norm(ln2, x1_raw)
    ff_raw = parts.feed(n2_raw) if n2_raw is not None else None
    if ff_raw is not None:
        sums["x + attn(x) + ...: the attention branch gets x itself, not ln1(x)"] = _add(
            x1_raw, ff_raw
        )
    if len(parts.norms) > 1:
        n1_x1 = parts.norm(ln1, x1)
        ff_n1 = parts.feed(n1_x1) if n1_x1 is not None else None
        if ff_n1 is not None:
            sums[
                "x1 + ff(ln1(x1)): one norm serves both branches; each has a LayerNorm of its own"
            ] = _add(x1, ff_n1)
    n2_att = parts.norm(ln2, attn_n)
    ff_att = parts.feed(n2_att) if n2_att is not None else None
    if ff_att is not None:
        sums["attn(ln1(x)) + ff(...): the attention branch's output is not added to x"] = _add(
            attn_n, ff_att
        )
    for name, value in sums.items():
        if value is not None and same(out, value, 1e-9):
            return f"Your block computes {name}."
    return None


def test_block_is_pre_norm_residual(student: Student) -> None:
    """TransformerBlock computes x1 = x + attn(ln1(x)), then x1 + ff(ln2(x1)), for any weights"""
    if not all(repeatable(student, c) for c in ("TransformerBlock", "SelfAttention")):
        return  # outputs change from call to call: the parameters check reports why
    rng = student.rng("residual.block")
    block = build(student, rng, "TransformerBlock", D, 2)
    randomize(block, rng, 0.5)
    found = block.parts()
    branches = ("SelfAttention", "FeedForward")
    attns = [p for p in found if p.cls == "SelfAttention" and not _inside(p, found, branches)]
    ffs = [p for p in found if p.cls == "FeedForward" and not _inside(p, found, branches)]
    norms = [p for p in found if p.cls == "LayerNorm" and not _inside(p, found, branches)]
    if len(attns) != 1 or len(ffs) != 1 or not 1 <= len(norms) <= 4:
        return  # not built from one attention, one feed-forward and its norms: not judged
    parts = Parts(attns[0], ffs[0], norms)
    x = rows(rng, T, D)
    out = block.forward_many([x], apart=True)[0].data
    candidates = _candidates(parts, x)
    if candidates is None:
        return  # a part returns the wrong shape: the shapes check reports it
    if any(same(out, value, 1e-9) for value in candidates.values()):
        return
    expect(
        False,
        "with random weights, the block's output is not x1 + ff(ln2(x1)) with x1 = x + "
        "attn(ln1(x)), computed from its own SelfAttention, FeedForward and LayerNorms",
        (_diagnose(parts, x, out) or "") + " " + BLOCK_HINT,
    )


def _inside(part: Part, found: list[Part], classes: tuple[str, ...]) -> bool:
    """Is ``part`` held, at any depth, by a part of one of ``classes``?"""
    index = part.within
    while index >= 0:
        if found[index].cls in classes:
            return True
        index = found[index].within
    return False


def _zeroed(student: Student, name: str, cls: str, *args: int) -> tuple[Remote, random.Random]:
    rng = student.rng(name)
    obj = build(student, rng, cls, *args)
    obj.set_params([0.0] * obj.count().distinct)
    return obj, rng


def test_zero_attention_outputs_zeros(student: Student) -> None:
    """SelfAttention with all parameters 0 outputs zeros (no residual inside it)"""
    if not attention_is_judged(student):
        return  # its weights are no softmax: the attention check reports it
    attn, rng = _zeroed(student, "residual.attention", "SelfAttention", D)
    x = rows(rng, 3, D)
    out: Any = attn.forward(x).data
    expect(
        same(out, [[0.0] * D] * 3, 1e-12),
        f"SelfAttention with all parameters 0 returned {fmt(out)}; expected zeros (its values "
        "are all 0)",
        BRANCH_HINT,
    )


def test_zero_feedforward_outputs_zeros(student: Student) -> None:
    """FeedForward with all parameters 0 outputs zeros (no residual inside it)"""
    ff, rng = _zeroed(student, "residual.feedforward", "FeedForward", D)
    x = rows(rng, 1, D)[0]
    out = ff.forward(x).data
    expect(
        same(out, [0.0] * D, 1e-12),
        f"FeedForward with all parameters 0 returned {fmt(out)}; expected zeros",
        BRANCH_HINT,
    )
