"""Check `parameters`: parameters() lists every weight forward uses, once; forward keeps them.

What forward uses is read from its graph, not from where the model keeps it:
the worker reports the leaf Values each logits' graph reaches. A leaf reached
by two forwards of one model, and not by a forward of a second model built in
the same process, is a weight of that model (a Value made inside forward is new
each call; a module-level constant is shared by both models); every such weight
must be listed, wherever it is kept (lists, dicts, wrapper objects, __slots__).
The one exception is a single Value kept as an attribute of a layer and left
out on purpose, the place of a constant such as an eps.

Forward must also be a function of the weights and the input: the same model
and input give the same logits whatever the state of the ``random`` module
(dropout left on, or a layer created inside forward, does not).

False failures: none; every property is exact for a correct model.
"""

from __future__ import annotations

from typing import Any

import pytest

from grader.judge.remote import Student
from grader.suite.suite_support import SMALL, expect, model, repeatable

pytestmark = pytest.mark.check("parameters")


def measure(student: Student) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        rng = student.rng("parameters")
        gpt = model(student, rng, SMALL)
        other = model(student, rng, {**SMALL, "num_layers": 1})
        params = gpt.parameters()
        listed = set(gpt.tokens())
        v = SMALL["vocab_size"]
        ids = [rng.randrange(v) for _ in range(4)]
        first = gpt.forward(ids, tokens=True, keep=True)
        second = gpt.forward([rng.randrange(v) for _ in range(3)], tokens=True, keep=True)
        elsewhere = other.forward(ids, tokens=True, keep=True)
        after = gpt.parameters()
        replaced = len(set(gpt.tokens()) - listed) if after.distinct == params.distinct else -1
        persistent = first.leaves() & second.leaves()
        own = persistent - elsewhere.leaves()
        held = gpt.held()
        unlisted = [t for t in own if t not in listed and not (t in held and held[t].attribute)]
        named = sorted(held[t].path for t in unlisted if t in held)
        return {
            "listed": params.listed,
            "distinct": params.distinct,
            "used": len(listed & persistent),
            "missing": named,
            "unnamed": len(unlisted) - len(named),
            "replaced": replaced,
            "changed": 0
            if replaced
            else sum(1 for a, b in zip(params.data, after.data, strict=True) if a != b),
        }

    return student.measure("parameters", run)


def test_every_used_weight_is_listed(student: Student) -> None:
    """Every weight forward uses from the model is in parameters(), wherever it is kept"""
    result = measure(student)
    missing, unnamed = result["missing"], result["unnamed"]
    count = len(missing) + unnamed
    where = f", e.g. {', '.join(missing[:3])}" if missing else " (kept where no attribute leads)"
    expect(
        count == 0,
        f"{count} weight(s) used by every forward are not in parameters(){where}: the "
        "optimiser would never train them",
        "If you override parameters(), include every sub-module's parameters; keep weights "
        "in Modules (in attributes, lists or dicts), which Module.parameters() finds: a Value "
        "inside an object that is not a Module is not found.",
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


def test_forward_is_a_function_of_weights_and_input(student: Student) -> None:
    """The same weights and input give the same output, whatever the random state"""
    for cls in ("MiniGPT", "TransformerBlock", "SelfAttention", "FeedForward"):
        expect(
            repeatable(student, cls),
            f"{cls}.forward gave two different outputs for the same weights and input (called "
            "with the random module in two different states): it draws random numbers",
            "Remove randomness from forward: dropout must be off (p = 0) by default, and every "
            "layer and weight is created once, in __init__, never inside forward.",
        )
