"""The pack's module system: parameter discovery, zero_grad, __call__ and Linear."""

from __future__ import annotations

import math
import random
from typing import Any

import pack_paths  # noqa: F401  (puts the pack's engine and nn on sys.path)
import pytest
from engine import Value
from nn import Linear, Module


def ids(values: list[Value]) -> list[int]:
    return [id(v) for v in values]


class Leafy(Module):
    """Values held directly, in nested containers, and next to non-parameters."""

    def __init__(self) -> None:
        self.a = Value(1.0)
        self.name = "leafy"
        self.count = 3
        self.nothing = None
        self.rows = [[Value(2.0), Value(3.0)], (Value(4.0),)]
        self.table = {"x": Value(5.0), "y": [Value(6.0)], "z": 7.0}


class Shared(Module):
    def __init__(self, inner: Module, value: Value) -> None:
        self.first = inner
        self.again = inner  # the same sub-module twice
        self.value = value
        self.value_list = [value, value]  # the same Value several times


class OnlyFirst(Module):
    """Overrides parameters(): exposes only its first Value."""

    def __init__(self) -> None:
        self.visible = Value(1.0)
        self.hidden = Value(2.0)

    def parameters(self) -> list[Value]:
        return [self.visible]


class Holder(Module):
    def __init__(self) -> None:
        self.children = {"o": OnlyFirst()}
        self.tail = Value(9.0)


def test_discovers_values_in_attributes_and_containers() -> None:
    m = Leafy()
    params = m.parameters()
    assert [p.data for p in params] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (
        "attribute order, then container order; numbers and strings ignored"
    )
    assert ids(params) == ids(m.parameters()), "the same order on every call"


def test_shared_values_and_modules_are_counted_once() -> None:
    inner = Leafy()
    v = inner.a  # also a parameter of inner
    outer = Shared(inner, v)
    params = outer.parameters()
    assert len(params) == len(set(params)) == 6
    assert ids(params) == ids(inner.parameters())


def test_sub_module_overrides_are_respected() -> None:
    holder = Holder()
    params = holder.parameters()
    assert [p.data for p in params] == [1.0, 9.0], "only what OnlyFirst.parameters() exposes"
    hidden = holder.children["o"].hidden
    hidden.grad = 5.0
    holder.children["o"].visible.grad = 5.0
    holder.zero_grad()
    assert holder.children["o"].visible.grad == 0.0
    assert hidden.grad == 5.0, "zero_grad goes through parameters(), so overrides apply"


def test_zero_grad_resets_every_parameter() -> None:
    m = Leafy()
    for p in m.parameters():
        p.grad = 1.5
    m.zero_grad()
    assert all(p.grad == 0.0 for p in m.parameters())


def test_empty_module_has_no_parameters() -> None:
    assert Module().parameters() == []


def test_call_forwards_arguments() -> None:
    class Echo(Module):
        def forward(self, *args: Any, **kwargs: Any) -> Any:
            return args, kwargs

    assert Echo()(1, 2, key="k") == ((1, 2), {"key": "k"})
    with pytest.raises(NotImplementedError, match=r"Module\.forward"):
        Module()(1)


def test_linear_layout_and_init() -> None:
    random.seed(0)
    layer = Linear(4, 3)
    assert (layer.in_features, layer.out_features) == (4, 3)
    assert len(layer.weight) == 3 and all(len(row) == 4 for row in layer.weight)
    assert layer.bias is not None and [b.data for b in layer.bias] == [0.0, 0.0, 0.0]
    weights = [w.data for row in layer.weight for w in row]
    assert all(abs(w) <= 1 / math.sqrt(4) for w in weights)
    assert len(set(weights)) == 12, "random, not constant"
    expected_order = [w for row in layer.weight for w in row] + layer.bias
    assert ids(layer.parameters()) == ids(expected_order), "weight rows, then bias"

    no_bias = Linear(4, 3, bias=False)
    assert no_bias.bias is None and len(no_bias.parameters()) == 12


def test_linear_init_spread_follows_fan_in() -> None:
    random.seed(1)
    wide = [w.data for row in Linear(100, 20).weight for w in row]
    bound = 1 / math.sqrt(100)
    assert max(wide) <= bound and min(wide) >= -bound
    assert max(wide) > 0.8 * bound and min(wide) < -0.8 * bound, "uniform over the whole range"


def test_linear_forward_and_gradients() -> None:
    random.seed(2)
    layer = Linear(3, 2)
    assert layer.bias is not None
    layer.bias[1].data = 0.5
    x = [Value(1.0), Value(-2.0), 0.5]  # plain numbers are accepted too
    out = layer(x)
    assert len(out) == 2
    for row, b, y in zip(layer.weight, layer.bias, out, strict=True):
        expected = row[0].data * 1.0 + row[1].data * -2.0 + row[2].data * 0.5 + b.data
        assert math.isclose(y.data, expected, rel_tol=1e-12)
    Value.sum(out).backward()
    assert [w.grad for w in layer.weight[0]] == [1.0, -2.0, 0.5], "dL/dW[i][j] = x[j]"
    assert [b.grad for b in layer.bias] == [1.0, 1.0]
    x0 = x[0]
    assert isinstance(x0, Value)
    assert math.isclose(x0.grad, layer.weight[0][0].data + layer.weight[1][0].data)


def test_linear_output_is_one_dot_node() -> None:
    layer = Linear(5, 2, bias=False)
    x = [Value(float(i)) for i in range(5)]
    for y, row in zip(layer(x), layer.weight, strict=True):
        assert set(y._children) == {*row, *x}, "built with Value.dot: one node per output"


def test_linear_checks_sizes() -> None:
    with pytest.raises(ValueError, match="expected 3 inputs, got 2"):
        Linear(3, 2)([Value(1.0), Value(2.0)])
    with pytest.raises(ValueError):
        Linear(0, 2)
    with pytest.raises(ValueError):
        Linear(2, 0)


def test_nested_modules_in_lists() -> None:
    class Stack(Module):
        def __init__(self) -> None:
            self.layers = [Linear(2, 2), Linear(2, 1, bias=False)]

    stack = Stack()
    expected = stack.layers[0].parameters() + stack.layers[1].parameters()
    assert ids(stack.parameters()) == ids(expected)
    assert len(expected) == 6 + 2
