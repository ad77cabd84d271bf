"""A tiny module system on top of `engine.Value`, in the spirit of torch.nn.

A `Module` finds its own parameters: any `Value` stored in one of its
attributes (also inside lists, tuples and dicts) and the parameters of any
sub-module stored the same way. So a layer only has to keep its Values and
sub-layers as attributes; it does not have to list them again.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from engine import Value


class Module:
    """Base class of every layer and model."""

    def parameters(self) -> list[Value]:
        """Every trainable Value of this module, each once, in a stable order.

        The order follows the order in which the attributes were first
        assigned, then the order inside each list, tuple or dict. A Value or
        sub-module reachable in several places (shared weights) appears once.
        Sub-modules are asked through their own `parameters()`, so a subclass
        may override it to expose a different set.
        """
        found: list[Value] = []
        seen: set[Value] = set()  # Values hash by identity
        for attribute in vars(self).values():
            _collect(attribute, found, seen)
        return found

    def zero_grad(self) -> None:
        """Reset the gradient of every parameter to 0 (do this before backward)."""
        for p in self.parameters():
            p.grad = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """`layer(x)` is shorthand for `layer.forward(x)`."""
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")


def _collect(obj: object, found: list[Value], seen: set[Value]) -> None:
    """Append to `found` the parameters held by `obj` that are not in `seen`."""
    if isinstance(obj, Value):
        candidates: list[Value] = [obj]
    elif isinstance(obj, Module):
        candidates = obj.parameters()
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            _collect(item, found, seen)
        return
    elif isinstance(obj, dict):
        for item in obj.values():
            _collect(item, found, seen)
        return
    else:
        return  # numbers, strings, None...: not parameters
    for p in candidates:
        if p not in seen:
            seen.add(p)
            found.append(p)


class Linear(Module):
    """y = W x + b, mapping in_features numbers to out_features numbers.

    `weight` holds out_features rows of in_features Values; `bias` holds
    out_features Values, or is None when built with bias=False.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"Linear needs positive sizes, got in_features={in_features}, "
                f"out_features={out_features}"
            )
        self.in_features = in_features
        self.out_features = out_features
        # Uniform in +-1/sqrt(in_features), as in PyTorch: each output then
        # starts with a spread that does not grow with the number of inputs.
        bound = 1.0 / math.sqrt(in_features)
        self.weight = [
            [Value(random.uniform(-bound, bound)) for _ in range(in_features)]
            for _ in range(out_features)
        ]
        self.bias = [Value(0.0) for _ in range(out_features)] if bias else None

    def forward(self, x: Sequence[Value | float]) -> list[Value]:
        """x: in_features Values (or numbers) -> out_features Values."""
        if len(x) != self.in_features:
            raise ValueError(f"Linear expected {self.in_features} inputs, got {len(x)}")
        if self.bias is None:
            return [Value.dot(row, x) for row in self.weight]
        return [Value.dot(row, x) + b for row, b in zip(self.weight, self.bias)]
