"""What the public tests share: failure messages in words, and ways to probe a model.

Every public test checks a rule of README.md by its effect: it feeds inputs,
sets weights through parameters(), perturbs them, and compares what comes out
with a formula. None reads your attribute names, counts your calls or needs a
particular initialisation, activation, bias, LayerNorm style or class layout,
so any correct model passes.

A failed test says, through expect(), what was observed, what was expected
and what to check.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import random
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from engine import Value
from nn import Module

# --------------------------------------------------------------------------
# Messages


def expect(ok: bool, observed: str, expected: str, advice: str) -> None:
    """Fail the test, unless ok, with three sentences: what happened, what should have, why."""
    if not ok:
        pytest.fail(
            f"Observed: {observed}\nExpected: {expected}\nWhat to check: {advice}",
            pytrace=False,
        )


class NotJudged(Exception):
    """Raised by requires() and after(): the test stops, passing but "not judged".

    Its argument is the name of the test to make pass first.
    """


# What the tests run so far in this session gave, filled in by conftest.py: for each test
# (by name, and by function name for all its parameters together) "" when it passed, else
# the name of the test to fix first (itself when it failed).
RESULTS: dict[str, str] = {}


def requires(ok: bool, other_test: str) -> None:
    """Stop the test here, not judged, unless ok.

    A test builds on parts that other tests check: when one of those is wrong,
    this test could only report the same mistake under another name, so it
    leaves it to `other_test`, the test about that part.
    """
    if not ok:
        raise NotJudged(other_test)


def after(*tests: str) -> None:
    """Stop the test here, not judged, if one of these tests failed (or was not judged) in
    this run: they check the parts this test uses. Tests not run (pytest -k) do not stop it."""
    for name in tests:
        blocker = RESULTS.get(name, "")
        if blocker:
            raise NotJudged(blocker)


def describe(obj: object) -> str:
    """What obj is, in words: 'a list of 3 lists of 4 Values', 'a float', 'a tuple of 2 items'."""
    return _describe(obj)[0]


def _describe(obj: object) -> tuple[str, str]:
    """(singular, plural) descriptions of obj."""
    if isinstance(obj, Value):
        return "a Value", "Values"
    if isinstance(obj, bool):
        return "a bool", "bools"
    if isinstance(obj, int):
        return "an int", "ints"
    if isinstance(obj, float):
        return "a float", "floats"
    if obj is None:
        return "None", "Nones"
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        if not obj:
            return f"an empty {kind}", f"empty {kind}s"
        items = [_describe(item) for item in obj[:200]]
        if all(item == items[0] for item in items):
            inner = items[0][1]
            return f"a {kind} of {len(obj)} {inner}", f"{kind}s of {len(obj)} {inner}"
        return (
            f"a {kind} of {len(obj)} items of different kinds or lengths",
            f"{kind}s of mixed items",
        )
    name = type(obj).__name__
    return f"an object of type {name}", f"objects of type {name}"


def number(x: float) -> str:
    """A number as a short string (4 significant digits)."""
    return f"{x:.4g}"


def numbers(xs: Sequence[float], limit: int = 5) -> str:
    """Some numbers as '[0.1, -2, 3.5, ...]'."""
    shown = ", ".join(number(x) for x in xs[:limit])
    return f"[{shown}{', ...' if len(xs) > limit else ''}]"


# --------------------------------------------------------------------------
# Inputs and outputs


def values(xs: Sequence[float]) -> list[Value]:
    return [Value(x) for x in xs]


def sequence(rows: Sequence[Sequence[float]]) -> list[list[Value]]:
    return [values(row) for row in rows]


def random_rows(rng: random.Random, t: int, d: int, scale: float = 1.5) -> list[list[float]]:
    return [[rng.uniform(-scale, scale) for _ in range(d)] for _ in range(t)]


def vector_of(out: object, size: int, call: str, advice: str) -> list[float]:
    """The numbers of a list of `size` Values; fails in words on anything else."""
    ok = isinstance(out, list) and len(out) == size and all(isinstance(v, Value) for v in out)
    expect(ok, f"{call} returned {describe(out)}", f"a list of {size} Values", advice)
    return [v.data for v in out]


def matrix_of(out: object, rows: int, cols: int, call: str, advice: str) -> list[list[float]]:
    """The numbers of a list of `rows` lists of `cols` Values; fails in words on anything else."""
    ok = (
        isinstance(out, list)
        and len(out) == rows
        and all(
            isinstance(row, list) and len(row) == cols and all(isinstance(v, Value) for v in row)
            for row in out
        )
    )
    expect(
        ok,
        f"{call} returned {describe(out)}",
        f"a list of {rows} lists of {cols} Values each (one row per position)",
        advice,
    )
    return [[v.data for v in row] for row in out]


def numbers_of(out: Any) -> Any:
    """The numbers in a Value, or in lists (or tuples) of Values, however nested."""
    if isinstance(out, Value):
        return out.data
    if isinstance(out, (list, tuple)):
        return [numbers_of(item) for item in out]
    return out


def flat(data: Any) -> list[float]:
    if isinstance(data, (list, tuple)):
        return [x for item in data for x in flat(item)]
    return [float(data)]


def max_gap(a: Any, b: Any) -> float:
    """The largest difference between two nests of numbers (inf if their sizes differ)."""
    fa, fb = flat(a), flat(b)
    if len(fa) != len(fb):
        return math.inf
    gaps = [abs(x - y) for x, y in zip(fa, fb)]
    return math.nan if any(math.isnan(g) for g in gaps) else max(gaps, default=0.0)


def same(a: Any, b: Any, tol: float = 1e-9) -> bool:
    """Equal up to rounding, relative to the size of the numbers (never for NaN)."""
    size = max((abs(x) for x in flat(a) + flat(b)), default=0.0)
    return max_gap(a, b) <= tol * (1.0 + size)


def differ(a: Any, b: Any, tol: float = 1e-7) -> bool:
    """Clearly different (never for NaN or for different sizes: that is a shape problem)."""
    size = max((abs(x) for x in flat(a) + flat(b)), default=0.0)
    gap = max_gap(a, b)
    return math.isfinite(gap) and gap > tol * (1.0 + size)


# --------------------------------------------------------------------------
# Weights


def parameters_of(module: Module, what: str) -> list[Value]:
    """module.parameters() as a list, checked to hold Values only."""
    params = module.parameters()
    found = list(params) if isinstance(params, (list, tuple)) else params
    ok = isinstance(found, list) and all(isinstance(p, Value) for p in found)
    expect(
        ok,
        f"{what}.parameters() returned {describe(params)}",
        "a list of Values",
        "Let Module.parameters() find your Values, or return a list of them if you override it.",
    )
    return found


def distinct(params: list[Value]) -> int:
    """How many different Values params holds (a shared one counts once)."""
    return len({id(p) for p in params})


def randomize(module: Module, rng: random.Random, scale: float = 1.0) -> list[Value]:
    """Give every parameter a random value: a rule that holds for ANY weights then shows."""
    params = list(module.parameters())
    for p in params:
        p.data = rng.gauss(0.0, scale)
    return params


def set_all(module: Module, x: float) -> None:
    for p in module.parameters():
        p.data = x


_FRESH = itertools.count(1)


def fresh_minigpt() -> types.ModuleType:
    """A new copy of minigpt.py, run afresh: nothing your code kept from earlier calls (a
    cache at module level, say) survives in it."""
    path = Path(__file__).resolve().parents[1] / "minigpt.py"
    spec = importlib.util.spec_from_file_location(f"minigpt_fresh_{next(_FRESH)}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


def check_keeps_its_weights(part: Module, run: Callable[[], Any], what: str) -> None:
    """The rules of parameters() for one part, by effect.

    run() calls the part on a fixed input and returns its output as numbers.
    Two calls must give the same output and leave the parameters as they were
    (no weight made or changed in forward, no randomness such as dropout), and
    a Value the part keeps in its weight lists without listing it in
    parameters() must not change the output.
    """
    params = parameters_of(part, what)
    numbers_before = [p.data for p in params]
    first, second = run(), run()
    expect(
        same(first, second, 0.0),
        f"{what} gave two different outputs for the same input",
        "the same output: forward depends on the weights and the input only",
        "Create every weight once, in __init__, and use no randomness (such as dropout) in "
        "forward.",
    )
    later = parameters_of(part, what)
    kept = {id(p) for p in later} == {id(p) for p in params}
    expect(
        kept and all(p.data == x for p, x in zip(params, numbers_before)),
        f"two calls of {what} replaced or changed its parameters",
        "the same Values with the same numbers: forward uses the weights, it does not make or "
        "change them",
        "Create every weight and layer once, in __init__; only a training step changes them.",
    )
    listed = {id(p) for p in params}
    unlisted = [v for v in held_values(part) if id(v) not in listed]
    old = [v.data for v in unlisted]
    shifts = random.Random(0)
    for v in unlisted:
        v.data += shifts.gauss(0.0, 0.5)  # not one shift for all: a LayerNorm would undo it
    moved = run()
    for v, x in zip(unlisted, old):
        v.data = x
    expect(
        not differ(moved, first),
        f"{what} keeps {len(unlisted)} Values that its parameters() does not list, and "
        "changing them changes its output",
        "every weight it uses in parameters(), so that training updates it",
        "If you override parameters(), list the weights of every part; otherwise keep the "
        "weights where Module.parameters() finds them: in attributes, lists and dicts of "
        "Values or of Modules (not inside other objects).",
    )


# --------------------------------------------------------------------------
# Finding the parts of a model by their class (never by attribute name)


def _attributes(obj: object) -> list[object]:
    """What an object holds in its attributes (its __dict__ and its __slots__)."""
    found = list(vars(obj).values()) if hasattr(obj, "__dict__") else []
    for cls in type(obj).__mro__:
        slots = vars(cls).get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__") and hasattr(obj, slot):
                found.append(getattr(obj, slot))
    return found


OPAQUE = (
    Value,
    type,
    types.ModuleType,
    types.FunctionType,
    types.MethodType,
    types.BuiltinFunctionType,
)


def _inside(obj: object) -> tuple[list[object], bool]:
    """What obj holds, and whether it is a container (a list, tuple, set or dict)."""
    if isinstance(obj, dict):
        return list(obj.values()), True
    if isinstance(obj, (list, tuple, set, frozenset)):
        return list(obj), True
    if isinstance(obj, OPAQUE):
        return [], False
    return _attributes(obj), False  # a Module, or any object of the student's


def parts_of(root: object, cls: type, stop: type | tuple[type, ...] = ()) -> list[Any]:
    """Every instance of cls that root holds (through attributes, lists, dicts, other
    objects), once each. Instances of `stop` are not searched inside."""
    found: list[Any] = []
    seen: set[int] = set()
    todo = [root]
    while todo:
        obj = todo.pop(0)
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if obj is not root and isinstance(obj, cls):
            found.append(obj)
        elif obj is root or not isinstance(obj, stop):
            todo.extend(_inside(obj)[0])
    return found


def held_values(root: object) -> list[Value]:
    """Every Value that root keeps inside a list, tuple, set or dict (a row of a weight
    matrix), however deep. A single Value kept directly as an attribute is taken as a
    constant (an eps, a scale), as the grader does."""
    found: list[Value] = []
    seen: set[int] = set()
    todo: list[tuple[object, bool]] = [(root, False)]
    while todo:
        obj, in_container = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, Value):
            if in_container:
                found.append(obj)
            continue
        items, container = _inside(obj)
        todo.extend((item, container) for item in items)
    return found


# --------------------------------------------------------------------------
# generate: a model that answers with chosen logits and records what it is given


class Recorder:
    """What a model wrapped by answering() was called with."""

    def __init__(self, last: list[float], other: list[float]) -> None:
        self.last = last
        self.other = other
        self.contexts: list[list[int]] = []

    def answer(self, token_ids: Any) -> list[list[Value]]:
        context = list(token_ids)
        self.contexts.append(context)
        return [values(self.other) for _ in context[:-1]] + [values(self.last)]


@contextmanager
def answering(model: Module, last: list[float], other: list[float]) -> Iterator[Recorder]:
    """Make every call of `model` return `other` for each earlier position and `last` for the
    last one, and record the context it got.

    The model stays your own MiniGPT object (its max_seq_len and every other attribute are
    untouched); only its forward answers differently, for the length of the `with` block.
    """
    recorder = Recorder(last, other)
    original = type(model)

    def forward(self: Any, token_ids: Any, *args: Any, **kwargs: Any) -> list[list[Value]]:
        return recorder.answer(token_ids)

    wrapped = type(
        original.__name__,
        (original,),
        {"__slots__": (), "forward": forward, "__call__": forward},
    )
    model.__class__ = wrapped
    try:
        yield recorder
    finally:
        model.__class__ = original


def softmax(logits: Sequence[float], temperature: float = 1.0) -> list[float]:
    scaled = [z / temperature for z in logits]
    peak = max(scaled)
    exps = [math.exp(z - peak) for z in scaled]
    total = sum(exps)
    return [e / total for e in exps]


def frequencies(samples: Sequence[int], size: int) -> list[float]:
    counts = [0] * size
    for s in samples:
        counts[s] += 1
    return [c / max(len(samples), 1) for c in counts]


def chi_square(samples: Sequence[int], probs: Sequence[float]) -> float:
    """Pearson's statistic of the samples against probs (inf if a sample is impossible)."""
    counts = [0] * len(probs)
    for s in samples:
        counts[s] += 1
    stat = 0.0
    for count, p in zip(counts, probs):
        expected = len(samples) * p
        if expected < 1e-9:
            if count:
                return math.inf
            continue
        stat += (count - expected) ** 2 / expected
    return stat


# A correct sampler exceeds this (chi-square, 4 degrees of freedom) about once in ten million.
CHI2_LIMIT_DF4 = 36.0
