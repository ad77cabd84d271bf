"""How much faster is the pack's engine than the engine a student would write?

Times one training step (forward, loss, zero grads, backward) of the same
MiniGPT (V=27, D=16, T=8, 2 layers) twice, with the garbage collector on as
in normal use:

* pack:     reference/minigpt.py on student_template/engine.py (slots, stored
            local gradients, n-ary sum and dot nodes);
* baseline: the same architecture, written plainly, on a micrograd-style
            engine defined below (a `_backward` closure per node, binary
            operations only, `sum()` of products for every dot product).

    python benchmarks/bench_engine.py [--repeats 7] [--gc-off]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = REPO / "student_template"
REFERENCE_PATH = REPO / "reference" / "minigpt.py"

VOCAB, EMBED, SEQ, LAYERS = 27, 16, 8, 2


def import_reference() -> ModuleType:
    """reference/minigpt.py, with the pack's engine and nn importable."""
    if str(TEMPLATE_DIR) not in sys.path:
        sys.path.insert(0, str(TEMPLATE_DIR))
    if "minigpt_reference" in sys.modules:
        return sys.modules["minigpt_reference"]
    spec = importlib.util.spec_from_file_location("minigpt_reference", REFERENCE_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["minigpt_reference"] = module
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------
# Baseline engine: micrograd's design (closures, a set of parents, recursion-
# free but otherwise identical topological sort), with exp and log added.
# ---------------------------------------------------------------------------


class ClosureValue:
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

    def __rmul__(self, other: float) -> ClosureValue:
        return self * other

    def __truediv__(self, other: ClosureValue | float) -> ClosureValue:
        return self * other**-1


# ---------------------------------------------------------------------------
# Baseline model: the architecture of reference/minigpt.py, written the way a
# student would on the engine above. Parameters are listed in the same order
# as the reference's parameters(), so weights can be copied across.
# ---------------------------------------------------------------------------

Vec = list[ClosureValue]


def _zeros(n: int) -> Vec:
    return [ClosureValue(0.0) for _ in range(n)]


def _ones(n: int) -> Vec:
    return [ClosureValue(1.0) for _ in range(n)]


def _matrix(rows: int, cols: int) -> list[Vec]:
    return [[ClosureValue(random.gauss(0.0, 0.5)) for _ in range(cols)] for _ in range(rows)]


def _sum(terms: Iterable[ClosureValue]) -> ClosureValue:
    """Python's sum(): a chain of binary additions, starting from a 0 node."""
    return sum(terms, ClosureValue(0.0))


def _linear(w: list[Vec], b: Vec | None, x: Vec) -> Vec:
    if b is None:
        return [_sum(wi * xi for wi, xi in zip(row, x, strict=True)) for row in w]
    return [
        sum((wi * xi for wi, xi in zip(row, x, strict=True)), bias)
        for row, bias in zip(w, b, strict=True)
    ]


def _layer_norm(gain: Vec, bias: Vec, x: Vec) -> Vec:
    n = len(x)
    mean = _sum(x) * (1.0 / n)
    centred = [xi - mean for xi in x]
    var = _sum(c * c for c in centred) * (1.0 / n)
    inv_std = (var + 1e-5) ** -0.5
    return [c * inv_std * g + b for c, g, b in zip(centred, gain, bias, strict=True)]


def _softmax(scores: Vec) -> Vec:
    largest = max(s.data for s in scores)
    exps = [(s - largest).exp() for s in scores]
    total = _sum(exps)
    return [e / total for e in exps]


class BaselineBlock:
    def __init__(self, d: int) -> None:
        self.ln1 = (_ones(d), _zeros(d))
        self.wq, self.wk, self.wv = _matrix(d, d), _matrix(d, d), _matrix(d, d)
        self.wo, self.bo = _matrix(d, d), _zeros(d)
        self.ln2 = (_ones(d), _zeros(d))
        self.w1, self.b1 = _matrix(4 * d, d), _zeros(4 * d)
        self.w2, self.b2 = _matrix(d, 4 * d), _zeros(d)

    def parameters(self) -> Vec:
        ps = [*self.ln1[0], *self.ln1[1]]
        for m in (self.wq, self.wk, self.wv, self.wo):
            ps += [p for row in m for p in row]
        ps += [*self.bo, *self.ln2[0], *self.ln2[1]]
        ps += [p for row in self.w1 for p in row] + self.b1
        ps += [p for row in self.w2 for p in row] + self.b2
        return ps

    def attention(self, x: list[Vec]) -> list[Vec]:
        d = len(x[0])
        q = [_linear(self.wq, None, row) for row in x]
        k = [_linear(self.wk, None, row) for row in x]
        v = [_linear(self.wv, None, row) for row in x]
        out = []
        for i in range(len(x)):
            scores = [
                _sum(a * b for a, b in zip(q[i], k[j], strict=True)) * (1.0 / math.sqrt(d))
                for j in range(i + 1)
            ]
            weights = _softmax(scores)
            mixed = [_sum(weights[j] * v[j][c] for j in range(i + 1)) for c in range(d)]
            out.append(_linear(self.wo, self.bo, mixed))
        return out

    def __call__(self, x: list[Vec]) -> list[Vec]:
        attended = self.attention([_layer_norm(*self.ln1, row) for row in x])
        x = [[a + b for a, b in zip(r, s, strict=True)] for r, s in zip(x, attended, strict=True)]
        out = []
        for row in x:
            hidden = [h.relu() for h in _linear(self.w1, self.b1, _layer_norm(*self.ln2, row))]
            ff = _linear(self.w2, self.b2, hidden)
            out.append([a + b for a, b in zip(row, ff, strict=True)])
        return out


class BaselineGPT:
    def __init__(self, vocab: int, d: int, layers: int, max_len: int) -> None:
        self.tok = _matrix(vocab, d)
        self.pos = _matrix(max_len, d)
        self.blocks = [BaselineBlock(d) for _ in range(layers)]
        self.ln_f = (_ones(d), _zeros(d))
        self.head_w, self.head_b = _matrix(vocab, d), _zeros(vocab)

    def parameters(self) -> Vec:
        ps = [p for row in self.tok + self.pos for p in row]
        for block in self.blocks:
            ps += block.parameters()
        ps += [*self.ln_f[0], *self.ln_f[1]]
        return ps + [p for row in self.head_w for p in row] + self.head_b

    def copy_weights_from(self, reference_model: Any) -> None:
        ours, theirs = self.parameters(), reference_model.parameters()
        if len(ours) != len(theirs):
            raise ValueError(f"{len(ours)} baseline parameters, {len(theirs)} reference ones")
        for mine, other in zip(ours, theirs, strict=True):
            mine.data = other.data

    def __call__(self, ids: list[int]) -> list[Vec]:
        x = [
            [a + b for a, b in zip(self.tok[t], self.pos[i], strict=True)]
            for i, t in enumerate(ids)
        ]
        for block in self.blocks:
            x = block(x)
        return [_linear(self.head_w, self.head_b, _layer_norm(*self.ln_f, row)) for row in x]


def baseline_loss(logits: list[Vec], targets: list[int]) -> ClosureValue:
    """The lesson's cross-entropy: mean of -log(softmax(row)[target])."""
    losses = [-_softmax(row)[t].log() for row, t in zip(logits, targets, strict=True)]
    return _sum(losses) * (1.0 / len(losses))


# ---------------------------------------------------------------------------


def time_steps(step: Callable[[], None], repeats: int) -> list[float]:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pack engine vs micrograd-style baseline")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per engine")
    parser.add_argument("--gc-off", action="store_true", help="also time both with gc disabled")
    args = parser.parse_args(argv)

    ref = import_reference()
    random.seed(0)
    ids = [random.randrange(VOCAB) for _ in range(SEQ + 1)]
    x, y = ids[:SEQ], ids[1:]
    model = ref.MiniGPT(VOCAB, EMBED, 2, LAYERS, SEQ)
    baseline = BaselineGPT(VOCAB, EMBED, LAYERS, SEQ)
    baseline.copy_weights_from(model)
    model_params, baseline_params = model.parameters(), baseline.parameters()

    def pack_step() -> None:
        loss = ref.cross_entropy_loss(model(x), y)
        for p in model_params:
            p.grad = 0.0
        loss.backward()

    def baseline_step() -> None:
        loss = baseline_loss(baseline(x), y)
        for p in baseline_params:
            p.grad = 0.0
        loss.backward()

    print(f"MiniGPT V={VOCAB} D={EMBED} T={SEQ} layers={LAYERS}, gc on, {args.repeats} steps")
    pack = statistics.median(time_steps(pack_step, args.repeats))
    print(f"  pack engine (reference)    median {pack * 1000:8.1f} ms per step")
    base = statistics.median(time_steps(baseline_step, args.repeats))
    print(f"  closure engine (baseline)  median {base * 1000:8.1f} ms per step")
    print(f"  speed-up {base / pack:.1f}x")
    if args.gc_off:
        gc.disable()
        try:
            pack_off = statistics.median(time_steps(pack_step, args.repeats))
            base_off = statistics.median(time_steps(baseline_step, args.repeats))
        finally:
            gc.enable()
        print("gc off (for comparison):")
        print(f"  pack engine (reference)    median {pack_off * 1000:8.1f} ms per step")
        print(f"  closure engine (baseline)  median {base_off * 1000:8.1f} ms per step")
        print(f"  speed-up {base_off / pack_off:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
