"""A small scalar autograd engine, in the spirit of micrograd.

Every number in the model is a `Value`. An operation on Values returns a new
Value that remembers two things about its inputs:

* `_children`: the input Values it was computed from, and
* `_local_grads`: the derivative of the result with respect to each input,
  worked out right away, during the forward pass.

`backward()` then applies the chain rule from the output back to the inputs:
``child.grad += local_grad * node.grad``.

Why no `_backward` closures, as in micrograd? A closure that refers to its
own node makes a reference cycle, and only Python's (slow) cyclic garbage
collector can free cycles: it runs again and again while a model builds
hundreds of thousands of nodes. Plain tuples make no cycles, and `__slots__`
keeps every node small.

Speed tip: `Value.sum` and `Value.dot` build ONE node for a whole sum or dot
product instead of a long chain of additions. Use them in your layers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


class Value:
    """A scalar that remembers how it was computed, so it can be differentiated.

    data: the number itself (a float).
    grad: the derivative, with respect to this Value, of the output that
        `backward()` was called on. Starts at 0.0.
    """

    __slots__ = ("data", "grad", "_children", "_local_grads")

    def __init__(
        self,
        data: float,
        _children: tuple[Value, ...] = (),
        _local_grads: tuple[float, ...] = (),
    ) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._children = _children
        self._local_grads = _local_grads

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # Arithmetic. Each method computes the result and, next to it, the local
    # derivative of the result with respect to each Value input. A plain number
    # operand is a constant: it does not become a node of the graph.

    def __add__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            # d(a+b)/da = 1, d(a+b)/db = 1
            return Value(self.data + other.data, (self, other), (1.0, 1.0))
        return Value(self.data + other, (self,), (1.0,))

    def __radd__(self, other: float) -> Value:  # number + Value
        return self + other

    def __neg__(self) -> Value:
        # d(-a)/da = -1
        return Value(-self.data, (self,), (-1.0,))

    def __sub__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            # d(a-b)/da = 1, d(a-b)/db = -1
            return Value(self.data - other.data, (self, other), (1.0, -1.0))
        return Value(self.data - other, (self,), (1.0,))

    def __rsub__(self, other: float) -> Value:  # number - Value
        return Value(other - self.data, (self,), (-1.0,))

    def __mul__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            # d(a*b)/da = b, d(a*b)/db = a
            return Value(self.data * other.data, (self, other), (other.data, self.data))
        return Value(self.data * other, (self,), (float(other),))

    def __rmul__(self, other: float) -> Value:  # number * Value
        return self * other

    def __truediv__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return self * other**-1  # a / b = a * b^-1
        return self * (1.0 / other)

    def __rtruediv__(self, other: float) -> Value:  # number / Value
        return self**-1 * other

    def __pow__(self, exponent: float) -> Value:
        """`self ** exponent` for a constant int or float exponent."""
        if not isinstance(exponent, (int, float)):
            raise TypeError("Value ** x supports only an int or float exponent x")
        result = self.data**exponent  # 0.0 ** -1 raises ZeroDivisionError
        if isinstance(result, complex):
            raise ValueError(f"{self.data} ** {exponent} is not a real number")
        if exponent == 0:
            slope = 0.0
        elif self.data == 0.0 and exponent < 1:
            slope = math.inf  # e.g. the square root has a vertical tangent at 0
        else:
            slope = exponent * self.data ** (exponent - 1)  # d(a^n)/da = n a^(n-1)
        return Value(result, (self,), (slope,))

    # Elementary functions.

    def exp(self) -> Value:
        """e ** self. Raises OverflowError (as math.exp does) above about 709."""
        try:
            result = math.exp(self.data)
        except OverflowError:
            raise OverflowError(
                f"exp({self.data}) is too large for a float; subtract the maximum "
                "before exponentiating (a stable softmax does this)"
            ) from None
        return Value(result, (self,), (result,))  # d(e^a)/da = e^a

    def log(self) -> Value:
        """Natural logarithm. Raises ValueError for a non-positive input."""
        if self.data <= 0.0:
            raise ValueError(f"log is only defined for positive numbers, got {self.data}")
        return Value(math.log(self.data), (self,), (1.0 / self.data,))  # d(ln a)/da = 1/a

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,))  # d(tanh a)/da = 1 - tanh(a)^2

    def relu(self) -> Value:
        if self.data > 0.0:
            return Value(self.data, (self,), (1.0,))
        return Value(0.0, (self,), (0.0,))  # the slope at exactly 0 is taken as 0

    # N-ary helpers: one node for a whole sum or dot product. A chain of n
    # additions makes n nodes and n steps of work in backward(); these make one.

    @staticmethod
    def sum(values: Iterable[Value | float]) -> Value:
        """Sum of Values (plain numbers may be mixed in) as one node."""
        total = 0.0
        children = []
        for v in values:
            if isinstance(v, Value):
                total += v.data
                children.append(v)
            else:
                total += v
        return Value(total, tuple(children), (1.0,) * len(children))

    @staticmethod
    def dot(a: Sequence[Value | float], b: Sequence[Value | float]) -> Value:
        """sum(a[i] * b[i]) as one node. a and b hold Values or plain numbers.

        The derivative with respect to a[i] is b[i] and vice versa, so the
        local gradient of each Value input is the data of its partner.
        """
        if len(a) != len(b):
            raise ValueError(
                f"Value.dot needs sequences of equal length, got {len(a)} and {len(b)}"
            )
        total = 0.0
        children = []
        local_grads = []
        for x, y in zip(a, b):
            x_data = x.data if isinstance(x, Value) else float(x)
            y_data = y.data if isinstance(y, Value) else float(y)
            total += x_data * y_data
            if isinstance(x, Value):
                children.append(x)
                local_grads.append(y_data)
            if isinstance(y, Value):
                children.append(y)
                local_grads.append(x_data)
        return Value(total, tuple(children), tuple(local_grads))

    # Backpropagation.

    def backward(self) -> None:
        """Compute d(self)/d(v) for every Value v that self depends on.

        Leaf Values (those built directly, like parameters) ACCUMULATE into
        `.grad`, so reset them to 0 before each training step. The gradients of
        intermediate nodes are recomputed from scratch on every call.

        A node may only pass its gradient on once it has received everything
        from all the nodes that use it; visiting nodes in reverse topological
        order guarantees that. The order is built with an explicit stack rather
        than recursion, so very deep graphs do not hit Python's recursion limit.
        """
        order = []  # each node appears after all of its children
        visited = set()
        stack = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
            elif node not in visited:
                visited.add(node)
                stack.append((node, True))  # comes back after its children
                for child in node._children:
                    # Leaves pass nothing on, so they need no place in the order.
                    if child._children and child not in visited:
                        stack.append((child, False))

        for node in order:
            node.grad = 0.0  # forget what an earlier backward() left here
        self.grad = 1.0
        for node in reversed(order):  # self first
            for child, local_grad in zip(node._children, node._local_grads):
                child.grad += local_grad * node.grad
