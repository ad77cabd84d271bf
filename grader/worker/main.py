"""Worker process: imports the student's minigpt.py and answers primitive requests.

This process is the student's: their code runs here, so nothing it says is
trusted. It does no measuring and no judging. It only holds the student's
objects and does what the judge asks with them (build this class with this
seed, forward this input, backward with these output weights, read or set
these parameters or draw them from a seed, call ``generate`` with a model that
answers with the judge's logits and records its calls) and reports plain data.
Every comparison, finite difference, SGD step and check of the calls lives in
the judge, which type-checks each answer.

Protocol (version 8): one JSON object per line; requests on the ``--requests``
pipe, answers on the ``--responses`` pipe. The student's prints go to
stdout/stderr, which the judge counts and discards.

  worker -> judge   {"ready": true, "protocol": 8}
                    {"stage": "MiniGPT.forward()"}     about to run this student function
                    {"result": ...} | {"error": {...}} the request's answer
  judge -> worker   {"op": ..., ...}                   a request (an op_* method of Worker)
                    {"op": "batch", "requests": [...]} several, answered one by one
                    {"op": "isolated", "requests": [...]}  the same, in a fork of this
                                                       worker whose memory dies with it

An ``isolated`` group runs in a child forked for it: it starts from this worker's
objects (built, weights set) and whatever it learns (a memo of the inputs it saw)
is gone when it ends, so two inputs asked in two groups can never be told apart
by remembering one of them. Nothing a group keeps (outputs, handles) survives it.

A ``packed`` field carries a long vector of floats (every parameter's data or grad,
both ways) as base64 of little-endian IEEE doubles: a tenth of JSON's cost.

An ``out`` field names a kept output by the key its answer gave, or is
``"last"``: the output kept most recently, so that a forward(keep) and the
requests on its output can travel in one batch. A ``handle`` field may be
``"last"`` too: the object built most recently (a build, its weights and its
forward in one batch).
"""

from __future__ import annotations

import argparse
import array
import base64
import importlib.util
import json
import os
import random
import resource
import select
import signal
import socket
import sys
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from types import ModuleType

# Every worker start pays for its imports (a grading starts about ten), so the
# names used only in annotations are not imported at run time; traceback is
# imported when an error is described.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

PROTOCOL = 8
MAX_TEXT = 300  # characters of an exception message, type name or stage we send
MAX_CODE = 120
MAX_ELEMENTS = 200_000  # numbers in one answer
MAX_IDS = 20_000  # ids in a generate answer or a model call
MAX_PARTS = 10_000  # sub-objects reported by "parts"
MAX_REQUEST_BYTES = 8 << 20
CLASSES = ("Embedding", "LayerNorm", "FeedForward", "SelfAttention", "TransformerBlock", "MiniGPT")
FUNCTIONS = ("cross_entropy_loss", "generate")

Value: Any = None  # the pack's engine.Value, bound in main() before the student's code runs


class BadOutput(Exception):
    """The student's code returned something the API does not allow."""


class Missing(BadOutput):
    """minigpt.py does not define a class or function of the API."""


class Aborted(BaseException):
    """A wrapped model refused a call of generate's (bad or uncropped input, too many
    calls); not an exception of the student's, so their ``except Exception`` misses it."""


def cap(text: str, limit: int = MAX_TEXT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def safe_str(obj: object) -> str:
    try:
        return cap(str(obj))
    except BaseException:  # a student's __str__ may raise anything
        return "<message could not be read>"


def type_name(obj: object) -> str:
    try:
        return cap(str(type(obj).__name__), 80)
    except BaseException:
        return "object"


class Channel:
    """Line-delimited JSON over the two pipes the judge handed us."""

    def __init__(self, requests_fd: int, responses_fd: int) -> None:
        # closefd=False: the fd numbers outlive this object (the fork server reuses them)
        self._requests = os.fdopen(requests_fd, "rb", closefd=False)
        self._responses_fd = responses_fd
        self.fds = (requests_fd, responses_fd)

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, allow_nan=True, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        while view:
            written = os.write(self._responses_fd, view)
            view = view[written:]

    def receive(self) -> dict[str, Any] | None:
        line = self._requests.readline(MAX_REQUEST_BYTES)
        if not line:
            return None
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("a request must be a JSON object")
        return message


# --- converting between plain data and the student's objects -----------------


def to_values(data: Any) -> Any:
    """Nested floats from the judge -> fresh Values of the pack's engine."""
    if isinstance(data, list):
        return [to_values(item) for item in data]
    return Value(float(data))


def pack(values: list[float]) -> str:
    """Floats as the protocol packs long vectors: base64 of little-endian doubles."""
    packed = array.array("d", values)
    if sys.byteorder != "little":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def unpack(text: str) -> list[float]:
    """The judge's packed floats (it is trusted: no checks beyond decoding)."""
    packed = array.array("d")
    packed.frombytes(base64.b64decode(text, validate=True))
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tolist()


def number(value: Any, what: str) -> float:
    """A Value's data (or a grad) as a float; refuses anything that is not a real number."""
    if isinstance(value, bool) or type(value) not in (int, float):
        raise BadOutput(f"{what} is a {type_name(value)}, not a number")
    return float(value)


def observe(obj: Any, what: str, budget: list[int], depth: int = 0) -> tuple[list[int], Any]:
    """Shape and floats of a nested list of Values; refuses ragged, foreign or huge data."""
    if type(obj) is Value:
        budget[0] -= 1
        if budget[0] < 0:
            raise BadOutput(f"{what} holds more than {MAX_ELEMENTS} numbers")
        return [], number(obj.data, f"{what}.data")
    if isinstance(obj, Value):
        raise BadOutput(
            f"{what} is a {type_name(obj)} (a subclass of Value); return the pack's Value itself"
        )
    if not isinstance(obj, list | tuple):
        raise BadOutput(f"{what} is a {type_name(obj)}; expected a Value or a list of Values")
    if depth >= 3:
        raise BadOutput(f"{what} is nested deeper than (T, D) lists of Values")
    if not obj:
        return [0], []
    shapes: list[list[int]] = []
    data: list[Any] = []
    for i, item in enumerate(obj):
        shape, values = observe(item, f"{what}[{i}]", budget, depth + 1)
        if shapes and shape != shapes[0]:
            raise BadOutput(
                f"{what}[{i}] has shape {tuple(shape)} but {what}[0] has {tuple(shapes[0])}: "
                "every row must have the same length"
            )
        shapes.append(shape)
        data.append(values)
    return [len(obj), *shapes[0]], data


def flatten(obj: Any) -> list[Any]:
    if isinstance(obj, Value):
        return [obj]
    return [v for item in obj for v in flatten(item)]


def token_list(obj: Any, what: str) -> list[int]:
    """A list of plain ints from the student (generate's result, a model call's context)."""
    if not isinstance(obj, list | tuple):
        raise BadOutput(f"{what} is a {type_name(obj)}, not a list of ints")
    if len(obj) > MAX_IDS:
        raise BadOutput(f"{what} has more than {MAX_IDS} elements")
    ids = []
    for i, item in enumerate(obj):
        if isinstance(item, bool) or type(item) is not int:
            raise BadOutput(f"{what}[{i}] is a {type_name(item)}, not an int")
        ids.append(item)
    return ids


def attributes(obj: Any) -> list[tuple[str, Any]]:
    """An object's own attributes: its __dict__ and its __slots__, read without calling
    the class's own __getattribute__ (a slot left unset is skipped)."""
    found: list[tuple[str, Any]] = []
    try:
        attrs = object.__getattribute__(obj, "__dict__")
    except BaseException:
        attrs = None
    if isinstance(attrs, dict):
        found += list(attrs.items())
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if not isinstance(name, str) or name in ("__dict__", "__weakref__"):
                continue
            stored = name
            if name.startswith("__") and not name.endswith("__"):
                stored = f"_{cls.__name__.lstrip('_')}{name}"  # a private slot is mangled
            slot = cls.__dict__.get(stored)
            try:
                found.append((name, slot.__get__(obj, cls)))  # type: ignore[union-attr]
            except BaseException:
                continue
    return found


def reachable(root: Any, path: str) -> Iterator[tuple[Any, str, list[Any]]]:
    """Every object reachable from ``root`` through attributes (dict and slots), list,
    tuple, set and dict items, once each, breadth first: the object, a readable path to
    it and the objects on that path. Values are not looked into; numbers, strings,
    modules and classes are skipped."""
    seen: set[int] = set()
    queue: deque[tuple[Any, str, list[Any]]] = deque([(root, path, [])])
    while queue and len(seen) < MAX_ELEMENTS:
        obj, where, parents = queue.popleft()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        yield obj, where, parents
        if type(obj) is Value or isinstance(
            obj, str | bytes | int | float | complex | ModuleType | type
        ):
            continue
        chain = [*parents, obj]
        if isinstance(obj, dict):
            children = [(f"{where}[{safe_str(k)}]", v) for k, v in list(obj.items())]
        elif isinstance(obj, list | tuple):
            children = [(f"{where}[{i}]", v) for i, v in enumerate(obj)]
        elif isinstance(obj, set | frozenset):
            children = [(f"{where}{{...}}", v) for v in list(obj)]
        else:
            children = [(f"{where}.{safe_str(k)}", v) for k, v in attributes(obj)]
        queue.extend((v, name, chain) for name, v in children)


# --- the student's objects, held by handle ------------------------------------


class Worker:
    """Holds the student's objects between requests and answers the judge's ops."""

    def __init__(self, channel: Channel, module: ModuleType, stage: Callable[[str], None]) -> None:
        self.channel = channel
        self.module = module
        self.stage = stage
        self.reset()

    def op_reset(self) -> dict[str, Any]:
        """Forget every object of earlier requests (each measurement starts clean)."""
        return self.reset()

    def reset(self) -> dict[str, Any]:
        self.objects: dict[int, Any] = {}
        self.params: dict[int, list[Any]] = {}
        self.outputs: dict[int, tuple[Any, Any, int | None]] = {}
        self.tokens: dict[int, int] = {}  # id(Value) -> identity token, for "leaves"/"held"
        self.keep: list[Any] = []  # keeps tokenised Values alive so ids stay unique
        self.counter = 0
        self.last_kept: int | None = None
        self.last_built: int | None = None
        return {}

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _keep(self, result: Any, inputs: Any, owner: int | None) -> int:
        key = self._next()
        self.outputs[key] = (result, inputs, owner)
        self.last_kept = key
        return key

    def _student(self, name: str, allowed: tuple[str, ...]) -> Any:
        if name not in allowed:
            raise ValueError(f"unknown name {name!r}")
        found = vars(self.module).get(name)
        if found is None:
            raise Missing(f"minigpt.py does not define `{name}`")
        return found

    def _object(self, handle: Any) -> Any:
        return self.objects[self._handle(handle)]

    def _handle(self, handle: Any) -> int:
        """A handle the judge was given, or "last": the object built most recently."""
        if handle == "last":
            handle = self.last_built
        if type(handle) is not int or handle not in self.objects:
            raise ValueError("unknown handle")
        return handle

    def _token(self, value: Any) -> int:
        token = self.tokens.get(id(value))
        if token is None:
            token = self.tokens[id(value)] = len(self.tokens)
            self.keep.append(value)
        return token

    # ops -------------------------------------------------------------------
    def op_new(self, cls: str, args: list[Any], kwargs: dict[str, Any], seed: int) -> Any:
        factory = self._student(cls, CLASSES)
        random.seed(seed)
        self.stage(f"{cls}.__init__()")
        obj = factory(*args, **kwargs)
        handle = self._next()
        self.objects[handle] = obj
        self.last_built = handle
        return {"handle": handle}

    def op_params(self, handle: int | str, data: bool = True) -> Any:
        """parameters() as listed: which are the same object and their data; with ``data``
        false only how many (most checks need just the count)."""
        distinct, identity = self._listed(handle)
        if not data:
            return {"listed": len(identity), "distinct": len(distinct)}
        values = [number(p.data, f"parameter {i}'s data") for i, p in enumerate(distinct)]
        return {"identity": identity, "packed": pack(values)}

    def op_randomize(self, handle: int | str, seed: int, scale: float) -> Any:
        """Each distinct parameter set to the next draw of ``Random(seed).gauss(0, scale)``
        and its grad to 0. The judge draws the same numbers itself, so none travel: the
        same as ``set_params`` with them, in one message instead of two long ones."""
        distinct, identity = self._listed(handle)
        draw = random.Random(seed).gauss
        for p in distinct:
            p.data = draw(0.0, scale)
            p.grad = 0.0
        return {"listed": len(identity), "distinct": len(distinct)}

    def _listed(self, handle: int | str) -> tuple[list[Any], list[int]]:
        """The distinct Values of the object's parameters(), registered for set_params
        and grads, and for each listed item the index of its first occurrence."""
        handle = self._handle(handle)
        obj = self.objects[handle]
        self.stage(f"{type_name(obj)}.parameters()")
        listed = obj.parameters()
        if not isinstance(listed, Iterable) or isinstance(listed, str | bytes | dict):
            raise BadOutput(f"parameters() returned a {type_name(listed)}, not a list")
        distinct: list[Any] = []
        first: dict[int, int] = {}
        identity = []
        for i, item in enumerate(listed):
            if i >= MAX_ELEMENTS:
                raise BadOutput(f"parameters() lists more than {MAX_ELEMENTS} Values")
            if type(item) is not Value:
                raise BadOutput(f"parameters()[{i}] is a {type_name(item)}; list Value objects")
            if id(item) not in first:
                first[id(item)] = len(distinct)
                distinct.append(item)
            identity.append(first[id(item)])
        self.params[handle] = distinct
        return distinct, identity

    def _registered(self, handle: int | str) -> list[Any]:
        handle = self._handle(handle)
        if handle not in self.params:
            raise ValueError("ask for params before using them")
        return self.params[handle]

    def op_set_params(self, handle: int, packed: str) -> Any:
        params = self._registered(handle)
        data = unpack(packed)
        if len(data) != len(params):
            raise ValueError("wrong number of parameter values")
        for p, x in zip(params, data, strict=True):
            p.data = float(x)
            p.grad = 0.0  # a fresh step: the last update's gradients are not there to read
        return {}

    def op_grads(self, handle: int) -> Any:
        params = self._registered(handle)
        grads = [number(p.grad, f"parameter {i}'s grad") for i, p in enumerate(params)]
        return {"packed": pack(grads)}

    def op_forward(
        self,
        handle: int | str,
        input: Any,
        tokens: bool = False,
        kwargs: dict[str, Any] | None = None,
        keep: bool = False,
        seed: int = 0,
    ) -> Any:
        handle = self._handle(handle)
        obj = self.objects[handle]
        x = [int(i) for i in input] if tokens else to_values(input)
        random.seed(seed)
        self.stage(f"{type_name(obj)}.forward()")
        out = obj(x, **(kwargs or {}))
        shape, data = observe(out, "the output", [MAX_ELEMENTS])
        answer: dict[str, Any] = {"shape": shape, "data": data}
        if keep:
            answer["out"] = self._keep(out, None if tokens else x, handle)
        return answer

    def op_loss(self, logits: list[list[float]], targets: list[int]) -> Any:
        function = self._student("cross_entropy_loss", FUNCTIONS)
        values = to_values(logits)
        self.stage("cross_entropy_loss()")
        loss = function(values, [int(t) for t in targets])
        if type(loss) is not Value:
            raise BadOutput(
                f"cross_entropy_loss returned a {type_name(loss)}; it must return one Value "
                "so that loss.backward() works"
            )
        key = self._keep(loss, values, None)
        return {"loss": number(loss.data, "the loss's data"), "out": key}

    def _output(self, out: Any) -> tuple[Any, Any, int | None]:
        if out == "last":
            out = self.last_kept
        if type(out) is not int or out not in self.outputs:
            raise ValueError("unknown output")
        return self.outputs[out]

    def op_backward(self, out: int | str, grad: Any) -> Any:
        """Backward from sum(grad * output): the judge picks the weights (dL/d output)."""
        result, inputs, owner = self._output(out)
        outputs = flatten(result)
        weights = flatten_floats(grad)
        if len(weights) != len(outputs):
            raise ValueError("grad does not match the output's shape")
        for p in self.params.get(owner, []) if owner is not None else []:
            p.grad = 0.0
        for v in flatten(inputs) if inputs is not None else []:
            v.grad = 0.0
        root = Value.dot(outputs, weights) if len(outputs) > 1 else outputs[0] * weights[0]
        self.stage("Value.backward() through your code")
        root.backward()
        self.stage("the grader's request")
        # Only the parameters' and the inputs' gradients are asked for: wipe every other
        # node's (outputs included), so code that keeps its outputs cannot read the
        # judge's dL/d(output) from them later.
        keep = {id(p) for p in self.params.get(owner, [])} if owner is not None else set()
        keep |= {id(v) for v in flatten(inputs)} if inputs is not None else set()
        for node in graph(outputs):
            if id(node) not in keep:
                node.grad = 0.0
        return {}

    def op_input_grads(self, out: int | str) -> Any:
        _, inputs, _ = self._output(out)
        if inputs is None:
            raise ValueError("this output has no Value inputs")
        return {"grads": grads_of(inputs)}

    def op_leaves(self, out: int) -> Any:
        """Identity tokens of the leaf Values the output's graph depends on."""
        result, _, _ = self._output(out)
        leaves = [self._token(node) for node in graph(flatten(result)) if not node._children]
        return {"leaves": sorted(leaves)}

    def op_tokens(self, handle: int) -> Any:
        """Identity tokens of the listed parameters (same order as params)."""
        return {"tokens": [self._token(p) for p in self._registered(handle)]}

    def op_held(self, handle: int | str) -> Any:
        """Values reachable from the object's attributes: a readable path to each, which
        TransformerBlock object (numbered in the order met, -1: none) holds it, and
        whether it is a single Value kept as an attribute of a layer (one of the API's
        classes, or the pack's Linear): the place of a constant such as an eps."""
        block_class = vars(self.module).get("TransformerBlock")
        layers = tuple(
            c
            for c in [*(vars(self.module).get(name) for name in CLASSES), self._linear()]
            if isinstance(c, type)
        )
        found: dict[int, tuple[str, int, bool]] = {}
        blocks: dict[int, int] = {}
        for obj, path, parents in reachable(self._object(handle), "model"):
            if type(obj) is not Value:
                continue
            block = -1
            for parent in reversed(parents):  # the innermost block that holds it
                if isinstance(block_class, type) and isinstance(parent, block_class):
                    block = blocks.setdefault(id(parent), len(blocks))
                    break
            attribute = bool(parents) and isinstance(parents[-1], layers) and path[-1:] != "]"
            found.setdefault(self._token(obj), (cap(path, 120), block, attribute))
        return {"held": [[token, *where] for token, where in found.items()]}

    @staticmethod
    def _linear() -> Any:
        pack = sys.modules.get("nn")
        return vars(pack).get("Linear") if isinstance(pack, ModuleType) else None

    def op_parts(self, handle: int | str) -> Any:
        """The objects of the student's own API classes that the object holds (itself
        not included), in the order met: for each its class, a readable path, a handle
        to use it alone, the indices (in the object's registered parameters) of every
        Value it holds, and the index of the part that holds it (-1: none)."""
        root_handle = self._handle(handle)
        root = self.objects[root_handle]
        index = {id(p): i for i, p in enumerate(self._registered(root_handle))}
        named = [(name, vars(self.module).get(name)) for name in CLASSES]
        classes = {c: name for name, c in named if isinstance(c, type)}
        parts: list[Any] = []
        where: dict[int, int] = {}
        for obj, path, parents in reachable(root, "model"):
            if obj is root or type(obj) is Value:
                continue
            # the API class it is (the nearest in its MRO: a subclass of LayerNorm is one)
            api = next((classes[c] for c in type(obj).__mro__ if c in classes), None)
            if api is None:
                continue
            if len(parts) >= MAX_PARTS:
                raise BadOutput(f"the model holds more than {MAX_PARTS} modules")
            within = next((where[id(o)] for o in reversed(parents) if id(o) in where), -1)
            where[id(obj)] = len(parts)
            held = sorted(
                {index[id(v)] for v, _, _ in reachable(obj, "") if id(v) in index}
            )
            part = self._next()
            self.objects[part] = obj
            parts.append([api, cap(path, 120), part, held, within])
        return {"parts": parts}

    def op_generate(
        self,
        start: list[int],
        max_new_tokens: int,
        temperature: float,
        seed: int,
        handle: int | None = None,
        answer: dict[str, list[float]] | None = None,
        max_calls: int = 0,
        max_context: int = 0,
    ) -> Any:
        """generate() on a model the judge built.

        With ``answer``, the model's class is swapped for a subclass whose every
        call returns the judge's rows (``other`` for each earlier position, ``last``
        for the last) and records the context it was given; the judge checks the
        record against the ids returned. Answering here instead of asking the
        judge per call saves a round trip per sampled token, and trusts nothing
        more: this process could forge either message.
        """
        function = self._student("generate", FUNCTIONS)
        model = self._object(handle)
        calls = Calls(answer, max_calls, max_context) if answer is not None else None
        restore = None
        if calls is not None:
            restore = type(model)
            model.__class__ = wrapped_class(restore, calls)
        given = list(start)
        random.seed(seed)
        try:
            self.stage("generate()")
            result = function(model, given, max_new_tokens, temperature)
        finally:
            if restore is not None:
                model.__class__ = restore
        if calls is not None and calls.problem is not None:  # it caught our Aborted
            raise Aborted(calls.problem)
        return {
            "ids": token_list(result, "generate's result"),
            "start_after": token_list(given, "start_ids"),
            "contexts": calls.contexts if calls is not None else [],
        }


class Calls:
    """The record of a wrapped model's calls, and the rows it answers with."""

    def __init__(self, answer: dict[str, list[float]], max_calls: int, max_context: int) -> None:
        self.last = [float(z) for z in answer["last"]]
        self.other: Any = None  # the earlier positions' row of Values, made at the first call
        self.other_data = [float(z) for z in answer["other"]]
        self.max_calls = max_calls
        self.max_context = max_context
        self.contexts: list[list[int]] = []
        self.problem: str | None = None

    def answer(self, token_ids: Any) -> Any:
        """The rows for this call, or Aborted (with the reason kept) once it went wrong."""
        if self.problem is None:
            self.problem = self._refusal(token_ids)
        if self.problem is not None:
            raise Aborted(self.problem)
        context = self.contexts[-1]
        # A fresh last row every call (generate may scale it in place); the earlier rows,
        # which a correct generate never reads, are one row of Values made once.
        if self.other is None:
            self.other = to_values(self.other_data)
        return [*([self.other] * (len(context) - 1)), to_values(self.last)]

    def _refusal(self, token_ids: Any) -> str | None:
        try:
            context = token_list(token_ids, "the context given to the model")
        except BadOutput as exc:
            return f"generate called the model with bad input: {safe_str(exc)}"
        if self.max_context and len(context) > self.max_context:
            return (
                f"generate called the model on {len(context)} tokens; max_seq_len is "
                f"{self.max_context}, so the context must be cropped to the last "
                f"{self.max_context}"
            )
        if len(self.contexts) >= self.max_calls:
            return f"generate called the model more than {self.max_calls} times"
        self.contexts.append(context)
        return None


def wrapped_class(cls: type, calls: Calls) -> type:
    """A subclass whose forward answers from ``calls``: every other attribute is the student's."""

    def forward(model: Any, token_ids: Any, *args: Any, **kwargs: Any) -> Any:
        return calls.answer(token_ids)

    return type(
        cls.__name__,
        (cls,),
        {
            "__slots__": (),
            "forward": forward,
            "__call__": forward,
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
        },
    )


def graph(roots: list[Any]) -> Iterator[Any]:
    """Every node the roots depend on, once each (iterative: deep graphs are fine)."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if len(seen) > 5 * MAX_ELEMENTS:
            raise BadOutput("the output's graph has more than a million nodes")
        yield node
        stack.extend(node._children)


def flatten_floats(data: Any) -> list[float]:
    if isinstance(data, list):
        return [x for item in data for x in flatten_floats(item)]
    return [float(data)]


def grads_of(values: Any) -> Any:
    if isinstance(values, list):
        return [grads_of(v) for v in values]
    return number(values.grad, "an input's grad")


# --- errors -------------------------------------------------------------------


def describe_error(exc: BaseException, submission: str, stage: str) -> dict[str, Any]:
    """Plain-data description of a failure, pointing at the student's own lines."""
    kind = "exception"
    if isinstance(exc, NotImplementedError):
        kind = "not_implemented"
    elif isinstance(exc, MemoryError):
        kind = "memory"
    elif isinstance(exc, RecursionError):
        kind = "recursion"
    elif isinstance(exc, SystemExit | KeyboardInterrupt):
        kind = "exit"
    elif isinstance(exc, Missing):
        kind = "missing"
    elif isinstance(exc, BadOutput):
        kind = "bad_output"
    elif isinstance(exc, Aborted):
        kind = "aborted"
    frames = []
    try:
        import traceback

        for frame in traceback.extract_tb(exc.__traceback__, limit=200):
            if frame.filename == submission and frame.lineno is not None:
                frames.append([frame.lineno, cap(frame.name, 80), cap(frame.line or "", MAX_CODE)])
    except BaseException:
        frames = []
    return {
        "kind": kind,
        "type": type_name(exc),
        "message": safe_str(exc),
        "stage": cap(stage, 120),
        "frames": frames[-3:] if len(frames) > 3 else frames,
        "first": frames[0] if frames else None,
    }


# --- start-up -----------------------------------------------------------------


def limit_resources(memory_bytes: int) -> None:
    """Cap this process before student code runs: a blow-up raises MemoryError here."""
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))


def load_submission(path: str) -> ModuleType:
    """Import the file as the module ``minigpt``, keeping its real path for tracebacks."""
    spec = importlib.util.spec_from_file_location("minigpt", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {os.path.basename(path)}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["minigpt"] = module
    spec.loader.exec_module(module)
    return module


def load(channel: Channel, submission: str) -> ModuleType | None:
    """Import the submission; on failure, say why on the channel and return None."""
    try:
        return load_submission(submission)
    except BaseException as exc:
        channel.send({"error": describe_error(exc, submission, "import minigpt")})
        return None


def serve(channel: Channel, module: ModuleType, submission: str) -> None:
    """Say ready, then answer the judge's requests until it closes the pipe.

    A ``batch`` request carries several requests: they run in order, each
    answered as if it had come alone, and the first error ends the batch (the
    rest never run), exactly as if the judge had stopped sending there.
    """
    stage = "the grader's request"

    def on_stage(name: str) -> None:
        nonlocal stage
        stage = name
        channel.send({"stage": name})

    worker = Worker(channel, module, on_stage)

    def answer(request: Any) -> dict[str, Any]:
        nonlocal stage
        stage = "the grader's request"
        if not isinstance(request, dict):
            return {"error": {"kind": "protocol", "message": "a request must be an object"}}
        handler = getattr(worker, "op_" + str(request.pop("op", "")), None)
        if handler is None:
            return {"error": {"kind": "protocol", "message": "unknown op"}}
        try:
            return {"result": handler(**request)}
        except (TypeError, ValueError, KeyError) as exc:
            if stage == "the grader's request":  # the request itself was malformed
                return {"error": {"kind": "protocol", "message": safe_str(exc)}}
            failure = describe_error(exc, submission, stage)
        except BaseException as exc:
            failure = describe_error(exc, submission, stage)
        # (the exception is gone with its frame: its traceback's memory is freed)
        return {"error": failure}

    def run(batch: list[Any]) -> bool:
        """Answer each request in turn until the first error; False after a MemoryError."""
        for item in batch:
            message = answer(item)
            channel.send(message)
            if "error" in message:
                return message["error"]["kind"] != "memory"
        return True

    channel.send({"ready": True, "protocol": PROTOCOL})
    while (request := channel.receive()) is not None:
        op = request.get("op")
        batch = request.get("requests") if op in ("batch", "isolated") else [request]
        if not isinstance(batch, list) or not batch:
            channel.send({"error": {"kind": "protocol", "message": "a batch needs requests"}})
            continue
        if op == "isolated":
            run_isolated(run, batch)
        elif not run(batch):
            return  # the heap may be in a bad state: let the judge start afresh


ISOLATED_DONE = 86  # the exit code of a fork that answered its whole group


def run_isolated(run: Callable[[list[Any]], bool], batch: list[Any]) -> None:
    """Run a group of requests in a fork of this worker, whose memory dies with it.

    The fork answers on our pipes; we wait for it. A fork that ends any other way
    than by finishing its group (killed, exited, stopped the interpreter) ends this
    worker the same way, so the judge sees the death it would have seen without
    the fork and handles it as always (a retry after a foreign kill, say).
    """
    try:
        pid = os.fork()
    except OSError:  # no process left (the pids limit): this worker ends
        os._exit(ISOLATED_DONE + 1)
    if pid == 0:
        try:
            run(batch)
        finally:
            os._exit(ISOLATED_DONE)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == ISOLATED_DONE:
        return
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def fork_server(
    control: socket.socket, channel: Channel, module: ModuleType, submission: str
) -> None:
    """Fork a fresh worker for each request on ``control``, from this just-imported state.

    A fresh worker costs a fork instead of an interpreter start and an import.
    This process runs no request itself, so every worker starts with exactly
    the memory the import left (nothing any earlier input taught an earlier
    worker). The judge sends the new worker's two pipe ends with each request
    (SCM_RIGHTS); the worker puts them on the fd numbers of ``--requests`` and
    ``--responses`` and starts a session of its own. We answer each request
    with the worker's pid and report each worker's exit status.
    """
    requests_fd, responses_fd = channel.fds
    null = os.open(os.devnull, os.O_RDWR)  # keep our two fd numbers taken, now pointing nowhere
    os.dup2(null, requests_fd)
    os.dup2(null, responses_fd)
    os.close(null)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # the wake-up pipe does the work
    while True:
        ready, _, _ = select.select([control.fileno(), wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
            report_exits(control)
        if control.fileno() not in ready:
            continue
        message, fds, _, _ = socket.recv_fds(control, 64, 2)
        if not message:
            return  # the judge is gone
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:  # the new worker
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in (wake_r, wake_w, control.fileno()):
                os.close(fd)
            os.dup2(fds[0], requests_fd)
            os.dup2(fds[1], responses_fd)
            os.close(fds[0])
            os.close(fds[1])
            os.setsid()
            serve(Channel(requests_fd, responses_fd), module, submission)
            os._exit(0)
        for fd in fds:
            os.close(fd)
        control.sendall(json.dumps({"pid": pid}).encode() + b"\n")


def report_exits(control: socket.socket) -> None:
    """Reap every worker that ended and tell the judge its wait status."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        control.sendall(json.dumps({"exit": pid, "status": status}).encode() + b"\n")


def main(argv: list[str] | None = None) -> int:
    global Value
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submission", required=True)
    parser.add_argument("--pack", required=True, help="folder with engine.py, nn.py")
    parser.add_argument("--requests", type=int, required=True, help="fd to read requests from")
    parser.add_argument("--responses", type=int, required=True, help="fd to write answers to")
    parser.add_argument("--memory-bytes", type=int, default=0, help="address-space limit")
    parser.add_argument(
        "--control", type=int, default=-1, help="socket fd: run as a fork server (see fork_server)"
    )
    args = parser.parse_args(argv)
    limit_resources(args.memory_bytes)
    # A private scratch folder of our own uid: the student's code may write there.
    try:
        scratch = tempfile.mkdtemp(prefix="worker-")
    except OSError:  # no room or no writable place (a full /tmp): run without scratch
        scratch = "/"
    os.chdir(scratch)
    os.environ["TMPDIR"] = scratch
    tempfile.tempdir = scratch
    sys.path[:0] = [args.pack]
    from engine import Value as pack_value

    Value = pack_value
    submission = os.path.realpath(args.submission)
    channel = Channel(args.requests, args.responses)
    module = load(channel, submission)
    if module is None:
        return 0
    if args.control < 0:
        serve(channel, module, submission)
    else:
        channel.send({"ready": True, "protocol": PROTOCOL})  # imported: ready to fork workers
        fork_server(socket.socket(fileno=args.control), channel, module, submission)
    return 0


if __name__ == "__main__":
    sys.exit(main())
