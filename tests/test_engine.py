"""The pack's autograd engine: every gradient against central finite differences."""

from __future__ import annotations

import gc
import math
from collections.abc import Callable

import pack_paths  # noqa: F401  (puts the pack's engine and nn on sys.path)
import pytest
from engine import Value

Build = Callable[[list[Value]], Value]


def numeric_gradient(build: Build, point: list[float], i: int, h: float = 1e-6) -> float:
    plus = list(point)
    minus = list(point)
    plus[i] += h
    minus[i] -= h
    high = build([Value(x) for x in plus]).data
    low = build([Value(x) for x in minus]).data
    return (high - low) / (2 * h)


def assert_gradients_match(build: Build, point: list[float]) -> None:
    inputs = [Value(x) for x in point]
    out = build(inputs)
    out.backward()
    for i, leaf in enumerate(inputs):
        expected = numeric_gradient(build, point, i)
        assert math.isclose(leaf.grad, expected, rel_tol=1e-5, abs_tol=1e-6), (
            f"input {i}: backward gave {leaf.grad}, finite differences {expected}"
        )


Floats = Callable[[list[float]], float]

# name: (the expression on Values, the same on floats, the point to check at)
OPS: dict[str, tuple[Build, Floats, list[float]]] = {
    "add": (lambda v: v[0] + v[1], lambda p: p[0] + p[1], [0.7, -1.3]),
    "add_number": (lambda v: v[0] + 2.5, lambda p: p[0] + 2.5, [0.7]),
    "radd": (lambda v: 2.5 + v[0], lambda p: 2.5 + p[0], [0.7]),
    "sub": (lambda v: v[0] - v[1], lambda p: p[0] - p[1], [0.7, -1.3]),
    "sub_number": (lambda v: v[0] - 1.5, lambda p: p[0] - 1.5, [0.7]),
    "rsub": (lambda v: 1.5 - v[0], lambda p: 1.5 - p[0], [0.7]),
    "mul": (lambda v: v[0] * v[1], lambda p: p[0] * p[1], [0.7, -1.3]),
    "mul_int": (lambda v: v[0] * 3, lambda p: p[0] * 3, [0.7]),
    "rmul": (lambda v: 3.0 * v[0], lambda p: 3.0 * p[0], [0.7]),
    "truediv": (lambda v: v[0] / v[1], lambda p: p[0] / p[1], [0.7, -1.3]),
    "truediv_number": (lambda v: v[0] / 4, lambda p: p[0] / 4, [0.7]),
    "rtruediv": (lambda v: 4.0 / v[0], lambda p: 4.0 / p[0], [0.7]),
    "neg": (lambda v: -v[0], lambda p: -p[0], [0.7]),
    "pow_2": (lambda v: v[0] ** 2, lambda p: p[0] ** 2, [-0.7]),
    "pow_3": (lambda v: v[0] ** 3, lambda p: p[0] ** 3, [-0.7]),
    "pow_minus_1": (lambda v: v[0] ** -1, lambda p: p[0] ** -1, [-0.7]),
    "pow_half": (lambda v: v[0] ** 0.5, lambda p: math.sqrt(p[0]), [0.7]),
    "pow_minus_half": (lambda v: v[0] ** -0.5, lambda p: 1 / math.sqrt(p[0]), [0.7]),
    "pow_1_5": (lambda v: v[0] ** 1.5, lambda p: p[0] * math.sqrt(p[0]), [2.3]),
    "exp": (lambda v: v[0].exp(), lambda p: math.exp(p[0]), [0.7]),
    "log": (lambda v: v[0].log(), lambda p: math.log(p[0]), [0.7]),
    "tanh": (lambda v: v[0].tanh(), lambda p: math.tanh(p[0]), [0.7]),
    "relu_positive": (lambda v: v[0].relu(), lambda p: p[0], [0.7]),
    "relu_negative": (lambda v: v[0].relu(), lambda p: 0.0, [-0.7]),
    "sum": (
        lambda v: Value.sum([v[0], 2.0, v[1], v[2]]),
        lambda p: p[0] + 2.0 + p[1] + p[2],
        [0.7, -1.3, 2.0],
    ),
    "sum_reused": (
        lambda v: Value.sum([v[0], v[0], v[1]]),
        lambda p: 2 * p[0] + p[1],
        [0.7, -1.3],
    ),
    "dot": (
        lambda v: Value.dot([v[0], v[1]], [v[2], v[3]]),
        lambda p: p[0] * p[2] + p[1] * p[3],
        [0.7, -1.3, 2.0, 0.4],
    ),
    "dot_numbers": (
        lambda v: Value.dot([v[0], 2.0], [3, v[1]]),
        lambda p: 3 * p[0] + 2.0 * p[1],
        [0.7, -1.3],
    ),
    "dot_self": (
        lambda v: Value.dot([v[0], v[1]], [v[0], v[1]]),
        lambda p: p[0] ** 2 + p[1] ** 2,
        [0.7, -1.3],
    ),
    "composite": (
        lambda v: (v[0] * v[1]).tanh() + (v[2] ** 2 + 1.0).log() - v[0] / (1.0 + v[2].exp()),
        lambda p: (
            math.tanh(p[0] * p[1]) + math.log(p[2] ** 2 + 1.0) - p[0] / (1.0 + math.exp(p[2]))
        ),
        [0.3, -0.8, 1.1],
    ),
    "reused_nodes": (
        # b = a*a and c = b + a are each used twice, along paths of different lengths
        lambda v: (lambda b: (lambda c: c * b + c)(b + v[0]))(v[0] * v[0]),
        lambda p: (p[0] ** 2 + p[0]) * p[0] ** 2 + p[0] ** 2 + p[0],
        [1.7],
    ),
    "log_softmax": (
        lambda v: v[1] - Value.sum([(x - 1.5).exp() for x in v]).log() - 1.5,
        lambda p: p[1] - math.log(sum(math.exp(x) for x in p)),
        [0.5, -0.2, 1.5],
    ),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_forward_matches_float_formula(name: str) -> None:
    build, floats, point = OPS[name]
    assert math.isclose(build([Value(x) for x in point]).data, floats(point), rel_tol=1e-12)


@pytest.mark.parametrize("name", sorted(OPS))
def test_gradient_matches_finite_differences(name: str) -> None:
    build, _, point = OPS[name]
    assert_gradients_match(build, point)


def test_reused_node_exact_gradient() -> None:
    # e = (a^2 + a) * a^2 + (a^2 + a) = a^4 + a^3 + a^2 + a, de/da = 4a^3 + 3a^2 + 2a + 1
    a = Value(3.0)
    b = a * a
    c = b + a
    e = c * b + c
    e.backward()
    assert e.data == 81 + 27 + 9 + 3
    assert a.grad == 4 * 27 + 3 * 9 + 2 * 3 + 1


def test_deep_chain_has_no_recursion_limit() -> None:
    x = Value(0.5)
    y = x
    for _ in range(200_000):
        y = y * 1.000001 + 0.0  # two nodes per step: 400k deep
    y.backward()
    assert math.isclose(x.grad, 1.000001**200_000, rel_tol=1e-9)


def test_backward_twice_accumulates_only_on_leaves() -> None:
    a = Value(2.0)
    b = a * a
    c = b * b  # a^4, dc/da = 4 a^3 = 32
    c.backward()
    assert a.grad == 32.0
    c.backward()
    assert a.grad == 64.0, "a second backward() adds the same gradient again, no more"


def test_two_losses_sharing_a_node() -> None:
    a = Value(2.0)
    b = a * a
    (b * 2.0).backward()
    (b * 3.0).backward()
    assert a.grad == 2 * 2 * 2.0 + 3 * 2 * 2.0, "leaf grads sum over both losses"


def test_backward_sets_output_grad_to_one() -> None:
    a = Value(1.5)
    out = a * 2.0
    out.grad = 7.0
    out.backward()
    assert out.grad == 1.0
    assert a.grad == 2.0
    leaf = Value(4.0)
    leaf.backward()
    assert leaf.grad == 1.0


def test_internals_layout() -> None:
    assert Value.__slots__ == ("data", "grad", "_children", "_local_grads")
    v = Value(3)
    assert type(v.data) is float and v.data == 3.0
    assert v.grad == 0.0
    assert v._children == () and v._local_grads == ()
    assert not hasattr(v, "__dict__"), "__slots__ only"
    assert not hasattr(v, "_backward"), "no closures"


def graph_nodes(root: Value) -> list[Value]:
    seen: set[Value] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node._children)
    return list(seen)


def test_every_node_stores_children_and_float_local_grads() -> None:
    a, b = Value(0.4), Value(-1.2)
    out = Value.dot([a, 2], [b, a]) + (3 - a) * (b / 2) + (a**2).exp() - b.tanh() + (-a).relu()
    out = out + Value.sum([a, 1, b]).log() / a
    for node in graph_nodes(out):
        assert isinstance(node._children, tuple) and isinstance(node._local_grads, tuple)
        assert len(node._children) == len(node._local_grads)
        assert all(isinstance(c, Value) for c in node._children)
        assert all(type(g) is float for g in node._local_grads), node._local_grads


def test_no_reference_cycles() -> None:
    """Graphs are freed by reference counting alone: the cyclic collector finds nothing."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        xs = [Value(float(i)) for i in range(50)]
        out = Value.sum([(x * 0.1).tanh() * x + x.exp() for x in xs])
        out.backward()
        del xs, out
        assert gc.collect() == 0
    finally:
        if was_enabled:
            gc.enable()


def test_identity_semantics() -> None:
    assert "__eq__" not in Value.__dict__ and "__hash__" not in Value.__dict__
    a, b = Value(1.0), Value(1.0)
    assert a != b, "equal data does not make Values equal"
    assert len({a, b}) == 2, "Values hash by identity"


def test_repr() -> None:
    assert repr(Value(0.5)) == "Value(data=0.5, grad=0.0)"


def test_log_of_non_positive_raises() -> None:
    for bad in (0.0, -2.0):
        with pytest.raises(ValueError, match="positive"):
            Value(bad).log()


def test_exp_overflow_explains_the_fix() -> None:
    with pytest.raises(OverflowError, match="maximum"):
        Value(1000.0).exp()
    assert Value(-1000.0).exp().data == 0.0


def test_pow_rejects_value_exponent_and_complex_results() -> None:
    with pytest.raises(TypeError):
        Value(2.0) ** Value(2.0)  # type: ignore[operator]
    with pytest.raises(ValueError):
        Value(-8.0) ** 0.5
    root = Value(0.0) ** 0.5
    assert root.data == 0.0 and root._local_grads == (math.inf,)
    constant = Value(0.0) ** 0
    assert constant.data == 1.0 and constant._local_grads == (0.0,)


def test_relu_at_zero_has_zero_slope() -> None:
    z = Value(0.0)
    z.relu().backward()
    assert z.grad == 0.0


def test_sum_is_one_node() -> None:
    xs = [Value(float(i)) for i in range(5)]
    total = Value.sum([*xs, 10])
    assert total.data == 20.0
    assert total._children == tuple(xs), "constants are folded in, Values become children"
    assert total._local_grads == (1.0,) * 5
    assert Value.sum([]).data == 0.0
    assert Value.sum(x for x in xs).data == 10.0, "any iterable"


def test_dot_is_one_node() -> None:
    a = [Value(1.0), Value(2.0)]
    b = [Value(3.0), Value(-4.0)]
    d = Value.dot(a, b)
    assert d.data == 1 * 3 + 2 * -4
    assert set(d._children) == {*a, *b} and len(d._children) == 4
    d.backward()
    assert [v.grad for v in a] == [3.0, -4.0]
    assert [v.grad for v in b] == [1.0, 2.0]


def test_dot_rejects_different_lengths() -> None:
    with pytest.raises(ValueError, match="length"):
        Value.dot([Value(1.0)], [1.0, 2.0])
