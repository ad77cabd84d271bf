"""Check `embedding`: a lookup table whose used rows receive gradient."""

from __future__ import annotations

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import expect, rows_equal

pytestmark = pytest.mark.check("embedding")


def test_same_index_same_row(student: Subject) -> None:
    """The same index always gives the same row"""
    out = student.run(
        "run_module", component="Embedding", args=[6, 4], inputs=[[2, 5, 2, 2]], token_inputs=True
    )["outputs"][0]["data"]
    expect(
        rows_equal(out[0], out[2]) and rows_equal(out[0], out[3]),
        "Embedding gave different rows for the same index 2 within one call",
    )
    expect(
        not rows_equal(out[0], out[1]),
        "indices 2 and 5 got the same row; every index needs its own row",
    )


def test_different_indices_different_rows(student: Subject) -> None:
    """Different indices give different rows"""
    ids = list(range(6))
    out = student.run(
        "run_module", component="Embedding", args=[6, 4], inputs=[ids], token_inputs=True
    )["outputs"][0]["data"]
    for i in range(len(ids)):
        for j in range(i):
            expect(
                not rows_equal(out[i], out[j]),
                f"indices {j} and {i} got the same embedding row; every index needs its own "
                "randomly initialised row",
            )


def test_rows_persist_between_calls(student: Subject) -> None:
    """An index gives the same row in every call (the table is created once)"""
    result = student.run(
        "run_module", component="Embedding", args=[5, 3], inputs=[[4, 1], [1, 4]], token_inputs=True
    )["outputs"]
    first, second = result[0]["data"], result[1]["data"]
    expect(
        rows_equal(first[0], second[1]) and rows_equal(first[1], second[0]),
        "the row for an index changed between two calls: create the table in __init__, "
        "not in forward",
    )


def test_table_size(student: Subject) -> None:
    """The table holds num_embeddings * embedding_dim parameters"""
    for v, d in ((7, 5), (3, 4)):
        n = student.run("run_module", component="Embedding", args=[v, d], inputs=[])["num_params"]
        expect(
            n == v * d,
            f"Embedding({v}, {d}).parameters() lists {n} Values; expected {v} x {d} = {v * d}",
        )


def test_gradient_reaches_used_rows(student: Subject) -> None:
    """backward() reaches exactly the rows that were looked up"""
    ids = [1, 3, 3, 5]
    dim = 4
    result = student.run("embedding_grads", num_embeddings=6, dim=dim, ids=ids)
    grads = result["grads"]
    nonzero = [g for g in grads if g != 0.0]
    expect(
        len(nonzero) == len(set(ids)) * dim,
        f"after backward from the sum of the outputs, {len(nonzero)} table entries have a "
        f"gradient; expected {len(set(ids)) * dim} (the {len(set(ids))} rows used x {dim})",
        "Return the table's own Value objects (not copies like Value(v.data)) so that "
        "backward reaches them.",
    )
    expect(
        abs(sum(nonzero) - len(ids) * dim) < 1e-9,
        f"the table's gradients add up to {sum(nonzero):g}; expected {len(ids) * dim} "
        "(each looked-up entry contributes 1 per use)",
    )
