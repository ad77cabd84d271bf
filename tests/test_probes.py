"""Probe helpers (worker side): turning the student's return values into plain data."""

from __future__ import annotations

import pack_paths  # noqa: F401  (puts the pack on sys.path)
import pytest
from engine import Value

from grader.worker import probes
from grader.worker.probes import ProbeError, describe_ids, shape_of, to_floats, to_values


def test_shape_of_nested_values() -> None:
    rows = [[Value(1.0), Value(2.0)], [Value(3.0), Value(4.0)], [Value(5.0), Value(6.0)]]
    assert shape_of(rows, "out") == [3, 2]
    assert shape_of(Value(1.0), "out") == []
    assert shape_of([], "out") == [0]
    assert shape_of(tuple(rows[0]), "out") == [2]


def test_shape_of_names_the_ragged_row() -> None:
    with pytest.raises(ProbeError, match=r"out\[1\] has shape \(1,\) but out\[0\] has \(2,\)"):
        shape_of([[Value(1.0), Value(2.0)], [Value(3.0)]], "out")


def test_floats_are_not_values() -> None:
    with pytest.raises(ProbeError, match=r"out\[0\]\[1\] is a float; expected a Value"):
        shape_of([[Value(1.0), 2.0]], "out")


def test_to_floats_rejects_value_wrapping_a_value() -> None:
    wrapped = Value(1.0)
    wrapped.data = Value(2.0)  # type: ignore[assignment]  # what a confused student might do
    with pytest.raises(ProbeError, match=r"out\[0\] is a Value whose data is a Value"):
        to_floats([wrapped], "out")
    assert to_floats([[Value(1.5)]], "out") == [[1.5]]


def test_to_values_round_trips() -> None:
    values = to_values([[1.0, 2.0], [3.0, 4.0]])
    assert to_floats(values, "x") == [[1.0, 2.0], [3.0, 4.0]]
    assert all(isinstance(v, Value) for row in values for v in row)


def test_describe_ids_says_what_is_wrong() -> None:
    assert describe_ids([1, 2, 3]) == {"ok": True, "problem": None, "ids": [1, 2, 3]}
    assert describe_ids((1, 2))["ok"] is True
    result = describe_ids([1, 2.0, True])
    assert not result["ok"] and result["problem"] == "element 1 is a float, not an int"
    assert describe_ids([1, True])["problem"] == "element 1 is a bool, not an int"
    assert describe_ids("123")["problem"] == "returned a str, not a list"


def test_stub_model_returns_last_row_last_and_records_contexts() -> None:
    stub = probes.StubModel(3, 4, last=[1.0, 2.0, 3.0], other=[9.0, 9.0, 9.0])
    rows = stub([0, 1, 2])
    assert [[v.data for v in r] for r in rows] == [[9.0] * 3, [9.0] * 3, [1.0, 2.0, 3.0]]
    stub.forward([2])
    assert stub.contexts == [[0, 1, 2], [2]]


def test_every_probe_is_registered_and_worker_is_stdlib_only() -> None:
    import ast
    from pathlib import Path

    assert set(probes.PROBES) >= {"run_module", "grad_check", "generate_stub", "train"}
    allowed = {
        "__future__",
        "argparse",
        "importlib",
        "json",
        "math",
        "os",
        "random",
        "resource",
        "sys",
        "traceback",
        "pathlib",
        "types",
        "typing",
        "collections",
        "engine",
        "probes",
    }
    for path in Path(probes.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                )
                for name in names:
                    assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
