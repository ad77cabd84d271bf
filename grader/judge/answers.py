"""Type checks for every answer the worker gives, before the judge reads it.

The worker is the student's process, so an answer can be anything JSON can
spell: the wrong shape, a bool where a float belongs, NaN, a string, a list
nested a thousand deep. Each function here returns plain Python data of the
promised type or raises :func:`bad_answer`, which fails only the check that
asked, with a message saying what was wrong.
"""

from __future__ import annotations

import array
import base64
import binascii
import math
import sys
from typing import Any

from .failures import bad_answer

MAX_DEPTH = 3


def real(value: Any, what: str, *, finite: bool = True) -> float:
    """One float; ints are fine, bools and everything else are not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_answer(f"{what} is not a number")
    try:
        result = float(value)
    except OverflowError:  # an int of 400 digits
        raise bad_answer(f"{what} is too large to be a float") from None
    if finite and not math.isfinite(result):
        raise bad_answer(f"{what} is {result}: every number must be finite")
    return result


def reals(value: Any, what: str, *, finite: bool = True, length: int | None = None) -> list[float]:
    """A flat list of floats (of ``length``, if given)."""
    if not isinstance(value, list):
        raise bad_answer(f"{what} is not a list of numbers")
    if length is not None and len(value) != length:
        raise bad_answer(f"{what} has {len(value)} numbers; expected {length}")
    if _plain_floats(value, finite):
        return value  # the usual answer, checked without naming each element
    return [real(x, f"{what}[{i}]", finite=finite) for i, x in enumerate(value)]


def packed_reals(
    value: Any, what: str, *, finite: bool = True, length: int | None = None
) -> list[float]:
    """A flat list of floats sent packed: base64 of little-endian IEEE doubles.

    Long vectors (every parameter's data or grad) travel this way: writing and
    reading floats as JSON text costs about ten times the CPU, on both sides.
    Whatever the string holds, it decodes to floats or is refused here.
    """
    if not isinstance(value, str):
        raise bad_answer(f"{what} is not a packed list of numbers")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_answer(f"{what} is not a packed list of numbers") from None
    if len(raw) % 8:
        raise bad_answer(f"{what} is not a whole number of packed floats")
    packed = array.array("d")
    packed.frombytes(raw)
    if sys.byteorder != "little":
        packed.byteswap()
    result = packed.tolist()
    if length is not None and len(result) != length:
        raise bad_answer(f"{what} has {len(result)} numbers; expected {length}")
    if finite and not all(map(math.isfinite, result)):
        i, bad = next((i, x) for i, x in enumerate(result) if not math.isfinite(x))
        raise bad_answer(f"{what}[{i}] is {bad}: every number must be finite")
    return result


def pack(values: list[float]) -> str:
    """Floats as :func:`packed_reals` reads them (the worker packs the same way)."""
    packed = array.array("d", values)
    if sys.byteorder != "little":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def _plain_floats(values: list[Any], finite: bool) -> bool:
    """True when every element is a float (finite, if asked): no error to name."""
    return all(type(x) is float for x in values) and (not finite or all(map(math.isfinite, values)))


def integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_answer(f"{what} is not an int")
    return value


def ints(value: Any, what: str, *, max_len: int = 100_000) -> list[int]:
    if not isinstance(value, list) or len(value) > max_len:
        raise bad_answer(f"{what} is not a list of at most {max_len} ints")
    if all(type(x) is int for x in value):
        return value
    return [integer(x, f"{what}[{i}]") for i, x in enumerate(value)]


def tensor(value: Any, what: str, *, finite: bool = True) -> tuple[list[int], Any]:
    """A rectangular nested list of floats (depth <= 3): its shape and the floats."""

    def walk(node: Any, depth: int, where: str) -> tuple[list[int], Any]:
        if not isinstance(node, list):
            return [], real(node, where, finite=finite)
        if depth >= MAX_DEPTH:
            raise bad_answer(f"{what} is nested deeper than (T, D)")
        if not node:
            return [0], []
        if _plain_floats(node, finite):
            return [len(node)], node  # a row of floats, checked without naming each element
        parts = [walk(item, depth + 1, f"{where}[{i}]") for i, item in enumerate(node)]
        shape = parts[0][0]
        if any(p[0] != shape for p in parts):
            raise bad_answer(f"{what} is ragged: its rows have different lengths")
        return [len(node), *shape], [p[1] for p in parts]

    return walk(value, 0, what)


def record(value: Any, what: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """A JSON object with at least ``keys``."""
    if not isinstance(value, dict) or any(k not in value for k in keys):
        raise bad_answer(f"{what} is malformed")
    return value
