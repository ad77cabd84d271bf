"""Probes: small scenarios that drive a minigpt module and return plain data.

A probe only exercises the problem statement's API (plus ``max_seq_len``,
which the lesson's ``generate`` uses) and reports what it observed: shapes,
floats, ids. It never decides pass or fail; the judge compares. The same
probes run on the student's module in the worker and on the reference inside
the judge, which is where expected values come from.

Every probe seeds ``random`` first, so a submission always gets the same run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import Any

from engine import Value

_stage_hook: Callable[[str], None] = lambda name: None  # noqa: E731


class ProbeError(Exception):
    """The student's code returned something the API does not allow."""

    def __init__(self, message: str, kind: str = "bad_output") -> None:
        super().__init__(message)
        self.kind = kind


def set_stage_hook(hook: Callable[[str], None]) -> None:
    """Let the worker tell the judge which student function is running."""
    global _stage_hook
    _stage_hook = hook


def _enter(stage: str) -> None:
    _stage_hook(stage)


# --- converting between plain data and the student's objects -----------------


def shape_of(obj: Any, what: str) -> list[int]:
    """Shape of a nested list of Values; raises ProbeError on ragged or foreign data."""
    if isinstance(obj, Value):
        return []
    if isinstance(obj, list | tuple):
        if not obj:
            return [0]
        shapes = [shape_of(item, f"{what}[{i}]") for i, item in enumerate(obj)]
        for i, shape in enumerate(shapes):
            if shape != shapes[0]:
                raise ProbeError(
                    f"{what}[{i}] has shape {tuple(shape)} but {what}[0] has "
                    f"{tuple(shapes[0])}: every row must have the same length"
                )
        return [len(obj), *shapes[0]]
    raise ProbeError(f"{what} is a {type(obj).__name__}; expected a Value or a list of Values")


def to_floats(obj: Any, what: str) -> Any:
    """Nested Values -> nested floats (validating that ``data`` is a number)."""
    if isinstance(obj, Value):
        data = obj.data
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise ProbeError(
                f"{what} is a Value whose data is a {type(data).__name__}, not a number"
            )
        return float(data)
    return [to_floats(item, f"{what}[{i}]") for i, item in enumerate(obj)]


def to_values(data: Any) -> Any:
    if isinstance(data, list):
        return [to_values(item) for item in data]
    return Value(float(data))


def observe(obj: Any, what: str) -> dict[str, Any]:
    return {"shape": shape_of(obj, what), "data": to_floats(obj, what)}


def _class(module: ModuleType, name: str) -> Any:
    found = vars(module).get(name)
    if found is None:
        raise ProbeError(f"minigpt.py does not define `{name}`", kind="missing")
    return found


def construct(module: ModuleType, name: str, *args: Any, **kwargs: Any) -> Any:
    cls = _class(module, name)
    _enter(f"{name}.__init__()")
    return cls(*args, **kwargs)


def forward(obj: Any, inputs: Any, **kwargs: Any) -> Any:
    _enter(f"{type(obj).__name__}.forward()")
    return obj(inputs, **kwargs)


def parameters(obj: Any) -> list[Value]:
    """``obj.parameters()``, validated, without duplicates, in the student's order."""
    _enter(f"{type(obj).__name__}.parameters()")
    found = obj.parameters()
    if not isinstance(found, Iterable):
        raise ProbeError(f"parameters() returned a {type(found).__name__}, not a list")
    unique: dict[int, Value] = {}
    for i, item in enumerate(found):
        if not isinstance(item, Value):
            raise ProbeError(
                f"parameters()[{i}] is a {type(item).__name__}; it must list Value objects"
            )
        unique.setdefault(id(item), item)
    return list(unique.values())


def call_function(module: ModuleType, name: str, *args: Any, **kwargs: Any) -> Any:
    function = _class(module, name)
    _enter(f"{name}()")
    return function(*args, **kwargs)


def _model(module: ModuleType, config: dict[str, Any]) -> Any:
    return construct(
        module,
        "MiniGPT",
        config["vocab_size"],
        config["embed_dim"],
        config["num_heads"],
        config["num_layers"],
        config["max_seq_len"],
    )


def _mean_cross_entropy(logits: Any, targets: Sequence[int]) -> Value:
    """The grader's own loss, so model checks do not depend on the student's."""
    total = Value(0.0)
    for row, target in zip(logits, targets, strict=True):
        peak = max(z.data for z in row)
        exps = [(z - peak).exp() for z in row]
        norm = exps[0]
        for e in exps[1:]:
            norm = norm + e
        total = total + (norm.log() + peak - row[target])
    return total / len(targets)


def _graph(roots: Iterable[Value]) -> list[Value]:
    """Every node the roots depend on (iterative, so deep graphs are fine)."""
    seen: set[int] = set()
    order: list[Value] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack.extend(node._children)
    return order


def _flatten(obj: Any) -> list[Value]:
    if isinstance(obj, Value):
        return [obj]
    return [v for item in obj for v in _flatten(item)]


# --- probes ------------------------------------------------------------------


def run_module(
    module: ModuleType,
    component: str,
    args: list[Any],
    inputs: list[Any],
    kwargs: dict[str, Any] | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    token_inputs: bool = False,
    zero_params: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Build one component and run it on each input; report outputs and parameter count."""
    random.seed(seed)
    obj = construct(module, component, *args, **(kwargs or {}))
    params = parameters(obj)
    if zero_params:
        for p in params:
            p.data = 0.0
    outputs = []
    for i, raw in enumerate(inputs):
        x = list(raw) if token_inputs else to_values(raw)
        out = forward(obj, x, **(forward_kwargs or {}))
        outputs.append(observe(out, f"output {i}" if len(inputs) > 1 else "the output"))
    return {"outputs": outputs, "num_params": len(params)}


def forward_raises(
    module: ModuleType, config: dict[str, Any], inputs: list[list[int]], seed: int = 0
) -> list[dict[str, Any]]:
    """For each input: did MiniGPT.forward raise, and if not, what shape came back."""
    random.seed(seed)
    model = _model(module, config)
    results = []
    for ids in inputs:
        try:
            out = forward(model, list(ids))
        except Exception as exc:  # any exception type is an acceptable refusal
            results.append({"raised": True, "type": type(exc).__name__, "shape": None})
        else:
            results.append({"raised": False, "type": None, "shape": shape_of(out, "the logits")})
    return results


def embedding_grads(
    module: ModuleType, num_embeddings: int, dim: int, ids: list[int], seed: int = 0
) -> dict[str, Any]:
    """Backward from the sum of an Embedding's outputs; report every parameter's grad."""
    random.seed(seed)
    emb = construct(module, "Embedding", num_embeddings, dim)
    params = parameters(emb)
    out = forward(emb, list(ids))
    shape = shape_of(out, "the output")
    total = Value(0.0)
    for v in _flatten(out):
        total = total + v
    total.backward()
    return {"shape": shape, "grads": [p.grad for p in params], "num_params": len(params)}


def cross_entropy(
    module: ModuleType, logits: list[list[float]], targets: list[int]
) -> dict[str, Any]:
    """The student's loss on given logits, and its gradient with respect to them."""
    values = to_values(logits)
    loss = call_function(module, "cross_entropy_loss", values, list(targets))
    if not isinstance(loss, Value):
        raise ProbeError(
            f"cross_entropy_loss returned a {type(loss).__name__}; it must return one Value "
            "so that loss.backward() works"
        )
    _enter("Value.backward() on your loss")
    loss.backward()
    return {"loss": to_floats(loss, "the loss"), "grads": [[v.grad for v in row] for row in values]}


def grad_check(
    module: ModuleType,
    config: dict[str, Any],
    ids: list[int],
    targets: list[int],
    samples: int = 12,
    step: float = 1e-4,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare backward's gradients with central differences of the same loss.

    Three kinds of comparison: single parameters with a non-zero gradient, one
    random direction over all parameters, and one random direction over the
    parameters whose gradient is exactly zero (a cut graph shows up there).
    """
    random.seed(seed)
    model = _model(module, config)
    params = parameters(model)

    def loss_value() -> float:
        return float(_mean_cross_entropy(forward(model, list(ids)), targets).data)

    loss = _mean_cross_entropy(forward(model, list(ids)), targets)
    _enter("Value.backward() through your model")
    loss.backward()
    grads = [float(p.grad) for p in params]
    finite = [g for g in grads if math.isfinite(g)]
    rng = random.Random(seed + 1)

    def directional(direction: dict[int, float]) -> float:
        for index, weight in direction.items():
            params[index].data += step * weight
        plus = loss_value()
        for index, weight in direction.items():
            params[index].data -= 2 * step * weight
        minus = loss_value()
        for index, weight in direction.items():
            params[index].data += step * weight
        return (plus - minus) / (2 * step)

    nonzero = [i for i, g in enumerate(grads) if g != 0.0]
    zero = [i for i, g in enumerate(grads) if g == 0.0]
    singles = []
    for index in rng.sample(nonzero, min(samples, len(nonzero))):
        singles.append([grads[index], directional({index: 1.0})])
    full = {i: rng.choice((-1.0, 1.0)) for i in range(len(params))}
    full_check = [sum(grads[i] * w for i, w in full.items()), directional(full)] if params else None
    zero_dir = {i: rng.choice((-1.0, 1.0)) for i in zero}
    zero_check = directional(zero_dir) if zero_dir else 0.0
    return {
        "num_params": len(params),
        "loss": float(loss.data),
        "nonfinite": len(grads) - len(finite),
        "nonzero": len(nonzero),
        "singles": singles,
        "full": full_check,
        "zero_direction": zero_check,
        "zero_count": len(zero),
    }


def _held_values(root: Any) -> dict[int, str]:
    """Values reachable from a model's attributes, with a readable path to each."""
    found: dict[int, str] = {}
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(root, "model")]
    while stack:
        obj, path = stack.pop()
        if isinstance(obj, Value):
            found.setdefault(id(obj), path)
            continue
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | ModuleType | type):
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            stack.extend((v, f"{path}[{k!r}]") for k, v in obj.items())
        elif isinstance(obj, list | tuple):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(obj))
        elif hasattr(obj, "__dict__"):
            stack.extend((v, f"{path}.{k}") for k, v in vars(obj).items())
    return found


def param_coverage(
    module: ModuleType, config: dict[str, Any], inputs: list[list[int]], seed: int = 0
) -> dict[str, Any]:
    """Which persistent weights that forward uses are missing from parameters()."""
    random.seed(seed)
    model = _model(module, config)
    params = {id(p) for p in parameters(model)}
    leaf_sets = []
    for ids in inputs:
        graph = _graph(_flatten(forward(model, list(ids))))
        leaf_sets.append({id(v): v for v in graph if not v._children})
    persistent = set.intersection(*(set(s) for s in leaf_sets))
    held = _held_values(model)
    kept_and_used = [i for i in persistent if i in held]
    missing = sorted(held[i] for i in kept_and_used if i not in params)
    used_params = len(params & set().union(*(set(s) for s in leaf_sets)))
    return {
        "num_params": len(params),
        "kept_and_used": len(kept_and_used),
        "missing": missing[:5],
        "missing_count": len(missing),
        "used_params": used_params,
    }


def train(
    module: ModuleType,
    config: dict[str, Any],
    ids: list[int],
    steps: int,
    lr: float,
    seed: int = 0,
) -> dict[str, Any]:
    """Plain SGD on one sequence, as in the lesson; report the loss at every step."""
    random.seed(seed)
    model = _model(module, config)
    params = parameters(model)
    inputs, targets = list(ids[:-1]), list(ids[1:])
    losses: list[float] = []
    for _ in range(steps):
        loss = _mean_cross_entropy(forward(model, inputs), targets)
        losses.append(float(loss.data))
        if not math.isfinite(losses[-1]):
            break
        for p in params:
            p.grad = 0.0
        _enter("Value.backward() through your model")
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
    return {"losses": losses, "num_params": len(params)}


def describe_ids(result: Any) -> dict[str, Any]:
    """generate's return value as data, with the first thing wrong with it."""
    if not isinstance(result, list | tuple):
        return {"ok": False, "problem": f"returned a {type(result).__name__}, not a list"}
    ids: list[int | None] = []
    problem = None
    for i, item in enumerate(result):
        if isinstance(item, int) and not isinstance(item, bool):
            ids.append(item)
        else:
            ids.append(None)
            problem = problem or f"element {i} is a {type(item).__name__}, not an int"
    return {"ok": problem is None, "problem": problem, "ids": ids}


def generate_real(
    module: ModuleType,
    config: dict[str, Any],
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
    seed: int = 0,
) -> dict[str, Any]:
    """generate() on the student's own MiniGPT."""
    random.seed(seed)
    model = _model(module, config)
    start = list(start_ids)
    out = call_function(module, "generate", model, start, max_new_tokens, temperature)
    return {"result": describe_ids(out), "start_after": list(start)}


class StubModel:
    """A stand-in model with known logits, to test generate() on its own.

    The last position's row is ``last``; every earlier row is ``other``, so
    sampling from the wrong row shows. It records each context it is given.
    """

    def __init__(
        self, vocab_size: int, max_seq_len: int, last: list[float], other: list[float]
    ) -> None:
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.last = last
        self.other = other
        self.contexts: list[list[int]] = []

    def __call__(self, token_ids: list[int]) -> list[list[Value]]:
        return self.forward(token_ids)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        ids = list(token_ids)
        self.contexts.append(ids)
        rows = [[Value(z) for z in self.other] for _ in ids[:-1]]
        return [*rows, [Value(z) for z in self.last]]

    def parameters(self) -> list[Value]:
        return []

    def zero_grad(self) -> None:
        pass


def generate_stub(
    module: ModuleType,
    max_seq_len: int,
    last: list[float],
    other: list[float],
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
    record_contexts: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """generate() on a StubModel: what it returned, and what contexts it asked for."""
    random.seed(seed)
    stub = StubModel(len(last), max_seq_len, last, other)
    start = list(start_ids)
    out = call_function(module, "generate", stub, start, max_new_tokens, temperature)
    return {
        "result": describe_ids(out),
        "start_after": list(start),
        "calls": len(stub.contexts),
        "contexts": stub.contexts if record_contexts else [],
    }


PROBES: dict[str, Callable[..., Any]] = {
    "run_module": run_module,
    "forward_raises": forward_raises,
    "embedding_grads": embedding_grads,
    "cross_entropy": cross_entropy,
    "grad_check": grad_check,
    "param_coverage": param_coverage,
    "train": train,
    "generate_real": generate_real,
    "generate_stub": generate_stub,
}
