"""Check `embedding`: a lookup table whose used rows receive exactly their gradient.

The table is first set to fresh random values chosen by the judge, so the
check holds whatever the student's initialisation: each output entry must BE
one of the table's entries (a lookup, not arithmetic).

False failures: none; two random table entries are equal with probability about
2^-52, and every other comparison is exact.
"""

from __future__ import annotations

import pytest

from grader.judge.remote import Remote, Student
from grader.suite.suite_support import build, close, expect, randomize

pytestmark = pytest.mark.check("embedding")

V, D = 6, 4


def _table(student: Student, name: str) -> tuple[Remote, list[float]]:
    rng = student.rng(name)
    emb = build(student, rng, "Embedding", V, D)
    return emb, randomize(emb, rng)


def _sources(out: list[list[float]], table: list[float]) -> list[list[int | None]]:
    """For each output entry, which table entry it equals (None: none of them)."""
    where = {value: i for i, value in enumerate(table)}
    return [[where.get(x) for x in row] for row in out]


def test_table_size(student: Student) -> None:
    """The table holds num_embeddings * embedding_dim parameters"""
    for v, d in ((7, 5), (3, 4)):
        rng = student.rng(f"embedding.size.{v}")
        n = build(student, rng, "Embedding", v, d).count().distinct
        expect(
            n == v * d,
            f"Embedding({v}, {d}).parameters() lists {n} Values; expected {v} x {d} = {v * d}",
        )


def test_rows_are_table_entries(student: Student) -> None:
    """Every output row is the table's row for that index, the same in every call"""
    emb, table = _table(student, "embedding.lookup")
    ids = [2, 5, 2, 0, 3]
    first = _sources(emb.forward(ids, tokens=True).data, table)
    second = _sources(emb.forward(list(reversed(ids)), tokens=True).data, table)
    expect(
        all(i is not None for row in first for i in row),
        "an output entry of Embedding is not one of the table's parameters: forward must "
        "look rows up, not compute new numbers",
        "Return self.weight[i] for each index i: the table's own Value objects.",
    )
    expect(
        first[0] == first[2] and first[0] != first[1],
        "index 2 gave different rows in one call, or indices 2 and 5 gave the same row",
    )
    rows_used = {tuple(r) for r in first}
    expect(len(rows_used) == len(set(ids)), "different indices share a table row")
    expect(
        second == list(reversed(first)),
        "the row for an index changed between two calls: create the table in __init__, "
        "not in forward",
    )


def test_gradient_reaches_used_rows(student: Student) -> None:
    """backward() gives each looked-up entry the sum of its output gradients, others 0"""
    emb, table = _table(student, "embedding.grad")
    rng = student.rng("embedding.grad.weights")
    ids = [1, 3, 3, 5]
    out = emb.forward(ids, tokens=True, keep=True)
    weights = [[rng.uniform(-1, 1) for _ in range(D)] for _ in ids]
    out.backward(weights)
    want = [0.0] * len(table)
    for row, wrow in zip(_sources(out.data, table), weights, strict=True):
        for index, w in zip(row, wrow, strict=True):
            if index is not None:
                want[index] += w
    got = emb.grads()
    expect(
        close(got, want, rel=1e-9, abs_tol=1e-12),
        "after backward from sum(w * output), the table's gradients are not the sums of "
        "the weights at the positions that used each entry (unused rows must stay 0)",
        "Return the table's own Value objects (not copies like Value(v.data)) so that "
        "backward reaches them.",
    )
