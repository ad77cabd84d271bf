"""Check `parameters`: parameters() lists every weight once, and forward keeps them.

The worker reports which Value objects the model holds (with the attribute
path to each), which leaf Values a forward's graph depends on, and which the
model lists; the judge compares. A weight is a Value the model holds inside a
list, tuple or dict (a row of a matrix) and uses in every forward; a single
Value held directly as an attribute and left out of parameters() is taken as
a constant on purpose (an eps, a scale).
"""

from __future__ import annotations

from typing import Any

import pytest

from grader.judge.remote import Student
from grader.suite.suite_support import MODEL, expect, model

pytestmark = pytest.mark.check("parameters")


def measure(student: Student) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        rng = student.rng("parameters")
        gpt = model(student, rng)
        params = gpt.parameters()
        listed = set(gpt.tokens())
        v = MODEL["vocab_size"]
        first = gpt.forward([rng.randrange(v) for _ in range(4)], tokens=True, keep=True)
        second = gpt.forward([rng.randrange(v) for _ in range(3)], tokens=True, keep=True)
        after = gpt.parameters()
        replaced = len(set(gpt.tokens()) - listed) if after.distinct == params.distinct else -1
        persistent = first.leaves() & second.leaves()
        held = gpt.held()
        missing = sorted(
            path
            for token, (path, _) in held.items()
            if token in persistent and token not in listed and path.endswith("]")
        )
        return {
            "listed": params.listed,
            "distinct": params.distinct,
            "used": len(listed & persistent),
            "missing": missing,
            "replaced": replaced,
            "changed": 0
            if replaced
            else sum(1 for a, b in zip(params.data, after.data, strict=True) if a != b),
        }

    return student.measure("parameters", run)


def test_every_used_weight_is_listed(student: Student) -> None:
    """Every weight forward uses from the model is in parameters()"""
    result = measure(student)
    missing = result["missing"]
    expect(
        not missing,
        f"{len(missing)} weight(s) used by forward are not in parameters(), e.g. "
        f"{', '.join(missing[:3])}: the optimiser would never train them",
        "If you override parameters(), include every sub-module's parameters; otherwise keep "
        "weights in attributes (lists, dicts and sub-modules are found automatically).",
    )


def test_each_weight_listed_once(student: Student) -> None:
    """parameters() lists each Value once (a tied weight too)"""
    result = measure(student)
    repeats = result["listed"] - result["distinct"]
    expect(
        repeats == 0,
        f"parameters() lists {result['listed']} Values but only {result['distinct']} different "
        f"ones: {repeats} appear more than once, so an optimiser would update them twice",
        "List a shared (tied) weight once: collect the parameters, skipping any Value already "
        "seen (Module.parameters() does this for you).",
    )


def test_weights_persist_between_calls(student: Student) -> None:
    """The model keeps its weights: forward reuses the same listed Values on every call"""
    result = measure(student)
    expect(
        result["used"] > 0,
        f"forward does not use the same listed weight Values from one call to the next "
        f"(0 of {result['distinct']} listed parameters used by two forwards)",
        "Create weights once in __init__ and reuse them in forward.",
    )


def test_forward_leaves_weights_alone(student: Student) -> None:
    """forward does not change the parameters' values"""
    result = measure(student)
    expect(
        result["replaced"] == 0,
        "after two calls of forward, parameters() lists other Value objects than before: "
        "forward creates new weights, discarding the trained ones",
        "Create every layer and weight once, in __init__; forward only uses them.",
    )
    expect(
        result["changed"] == 0,
        f"two calls of forward changed the values of {result['changed']} parameters",
        "forward computes outputs only; the weights change only when an optimiser updates "
        "them after backward.",
    )
