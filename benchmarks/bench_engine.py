"""How much faster is the pack's engine than the engine a student would write?

Times one training step (forward, loss, zero grads, backward) of the reference
MiniGPT (V=27, D=16, T=8, 2 layers) on two engines, with the garbage collector
on as in normal use:

* pack:     student_template/engine.py (slots, stored local gradients, n-ary
            sum and dot nodes);
* baseline: a micrograd-style engine defined below (a `_backward` closure per
            node, binary operations only: its `Value.sum` and `Value.dot` are
            Python's `sum()`, a chain of additions).

Both run the same code: reference/minigpt.py and the pack's nn.py are imported
once per engine, with that engine standing in for the `engine` module. Built
from the same seed, the two models hold the same weights, and the script
checks that they compute the same loss and gradients before timing them.

    python benchmarks/bench_engine.py [--repeats 7] [--gc-off]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import math
import random
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from timing import median_seconds

from grader import paths

VOCAB, EMBED, SEQ, LAYERS = 27, 16, 8, 2


class ClosureValue:
    """micrograd's Value (a closure per node, a set of parents), plus exp and log."""

    def __init__(self, data: float, _children: tuple[ClosureValue, ...] = (), _op: str = ""):
        self.data = data
        self.grad = 0.0
        self._backward: Callable[[], None] = lambda: None
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other: ClosureValue | float) -> ClosureValue:
        other = other if isinstance(other, ClosureValue) else ClosureValue(other)
        out = ClosureValue(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: ClosureValue | float) -> ClosureValue:
        other = other if isinstance(other, ClosureValue) else ClosureValue(other)
        out = ClosureValue(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, exponent: float) -> ClosureValue:
        out = ClosureValue(self.data**exponent, (self,), f"**{exponent}")

        def _backward() -> None:
            self.grad += exponent * self.data ** (exponent - 1) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> ClosureValue:
        out = ClosureValue(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward() -> None:
            self.grad += (out.data > 0) * out.grad

        out._backward = _backward
        return out

    def exp(self) -> ClosureValue:
        out = ClosureValue(math.exp(self.data), (self,), "exp")

        def _backward() -> None:
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> ClosureValue:
        out = ClosureValue(math.log(self.data), (self,), "log")

        def _backward() -> None:
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def backward(self) -> None:
        # micrograd's recursive build_topo, unrolled so deep graphs cannot hit
        # the recursion limit; it visits nodes in the same order.
        topo: list[ClosureValue] = []
        visited: set[ClosureValue] = {self}
        path: list[tuple[ClosureValue, Iterator[ClosureValue]]] = [(self, iter(self._prev))]
        while path:
            node, children = path[-1]
            for child in children:
                if child not in visited:
                    visited.add(child)
                    path.append((child, iter(child._prev)))
                    break
            else:
                path.pop()
                topo.append(node)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()

    def __neg__(self) -> ClosureValue:
        return self * -1

    def __radd__(self, other: float) -> ClosureValue:
        return self + other

    def __sub__(self, other: ClosureValue | float) -> ClosureValue:
        return self + (-other)

    def __rsub__(self, other: float) -> ClosureValue:
        return other + (-self)

    def __rmul__(self, other: float) -> ClosureValue:
        return self * other

    def __truediv__(self, other: ClosureValue | float) -> ClosureValue:
        return self * other**-1

    def __rtruediv__(self, other: float) -> ClosureValue:
        return other * self**-1

    # The pack's n-ary helpers, written the way a student without them would.

    @staticmethod
    def sum(values: Iterable[ClosureValue | float]) -> ClosureValue:
        total: ClosureValue = sum(values, ClosureValue(0.0))
        return total

    @staticmethod
    def dot(a: Sequence[ClosureValue], b: Sequence[ClosureValue]) -> ClosureValue:
        return ClosureValue.sum(x * y for x, y in zip(a, b, strict=True))


def import_file(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_on(engine: ModuleType) -> ModuleType:
    """reference/minigpt.py, with `engine` (and a fresh nn.py on top of it) as its pack."""
    saved = {name: sys.modules.pop(name, None) for name in ("engine", "nn")}
    try:
        sys.modules["engine"] = engine
        sys.modules["nn"] = import_file("nn", paths.TEMPLATE_DIR / "nn.py")
        return import_file("minigpt", paths.REFERENCE_PATH)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


Step = tuple[Callable[[], Any], list[Any]]  # one training step, and the model's parameters


def make_step(engine: ModuleType) -> Step:
    """One training step of a fresh reference model on `engine`, and its parameters."""
    ref = reference_on(engine)
    random.seed(0)
    ids = [random.randrange(VOCAB) for _ in range(SEQ + 1)]
    model = ref.MiniGPT(VOCAB, EMBED, 2, LAYERS, SEQ)
    params = model.parameters()
    if not all(isinstance(p, engine.Value) for p in params):
        raise RuntimeError(f"the model was not built on {engine.__name__}")

    def step() -> Any:
        loss = ref.cross_entropy_loss(model(ids[:SEQ]), ids[1:])
        for p in params:
            p.grad = 0.0
        loss.backward()
        return loss

    return step, params


def check_same_results(pack: Step, base: Step) -> float:
    """Both engines give the same loss and gradients; returns the loss."""
    (pack_step, pack_params), (base_step, base_params) = pack, base
    pack_loss, base_loss = pack_step().data, base_step().data
    if not math.isclose(pack_loss, base_loss, rel_tol=1e-9):
        raise RuntimeError(f"the engines disagree: loss {pack_loss} vs {base_loss}")
    for p, q in zip(pack_params, base_params, strict=True):
        if p.data != q.data or not math.isclose(p.grad, q.grad, rel_tol=1e-6, abs_tol=1e-12):
            raise RuntimeError(f"the engines disagree on a parameter: {p} vs {q.data}, {q.grad}")
    return float(pack_loss)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pack engine vs micrograd-style baseline")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per engine")
    parser.add_argument("--gc-off", action="store_true", help="also time both with gc disabled")
    args = parser.parse_args(argv)

    baseline_engine = ModuleType("engine_baseline")
    baseline_engine.Value = ClosureValue
    pack = make_step(import_file("engine_pack", paths.TEMPLATE_DIR / "engine.py"))
    base = make_step(baseline_engine)
    loss = check_same_results(pack, base)

    print(f"MiniGPT V={VOCAB} D={EMBED} T={SEQ} layers={LAYERS}, gc on, {args.repeats} steps")
    print(f"  both engines: loss {loss:.6f}, the same gradients")
    pack_s = median_seconds(pack[0], args.repeats)
    print(f"  pack engine (reference)    median {pack_s * 1000:8.1f} ms per step")
    base_s = median_seconds(base[0], args.repeats)
    print(f"  closure engine (baseline)  median {base_s * 1000:8.1f} ms per step")
    print(f"  speed-up {base_s / pack_s:.1f}x")
    if args.gc_off:
        gc.disable()
        try:
            pack_off = median_seconds(pack[0], args.repeats)
            base_off = median_seconds(base[0], args.repeats)
        finally:
            gc.enable()
        print("gc off (for comparison):")
        print(f"  pack engine (reference)    median {pack_off * 1000:8.1f} ms per step")
        print(f"  closure engine (baseline)  median {base_off * 1000:8.1f} ms per step")
        print(f"  speed-up {base_off / pack_off:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
