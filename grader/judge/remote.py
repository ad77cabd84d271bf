"""The submission as the hidden tests see it: handles on the student's objects.

A test builds the student's classes, runs them on inputs it chose, sets and
reads parameters and gradients, and calls ``generate`` with a model whose
every call it answers itself. All of that is a few primitive requests to the
worker; every measurement (finite differences, SGD, comparisons, the record
of calls) happens here, in the judge, on answers that :mod:`.answers` has
type-checked.

Probe inputs come from :meth:`Student.rng`, seeded by the grading seed: fixed
for the same file bytes (a regrade gives the same verdict), different for
different files, and not computable by the submission.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import answers
from .failures import StudentError, bad_answer, bad_shape, clean_text, error_record
from .worker_client import WorkerClient

T = TypeVar("T")
MAX_CALLS_SLACK = 4  # generate may call the model a few times more than it makes tokens


def _text(shape: list[int]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


@dataclass
class Output:
    """What a forward (or the student's loss) returned, as floats, plus a handle on it."""

    student: Student
    key: int | None
    shape: list[int]
    data: Any
    generation: int
    input_shape: list[int] | None = None

    def _key(self) -> int:
        if self.key is None:
            raise RuntimeError("forward(..., keep=True) is needed for backward")
        self.student.check_generation(self.generation)
        return self.key

    def backward(self, grad: Any) -> None:
        """Backward from sum(grad * output); ``grad`` is dL/d(output), chosen by the judge."""
        self.student.request("backward", out=self._key(), grad=grad)

    def input_grads(self) -> Any:
        """Gradients of the inputs the judge passed in (same shape as the input)."""
        return self.read_input_grads(self.student.request("input_grads", out=self._key()))

    def read_input_grads(self, result: Any) -> Any:
        """An ``input_grads`` answer about this output, type-checked."""
        answer = answers.record(result, "grads", ("grads",))
        shape, grads = answers.tensor(answer["grads"], "the inputs' gradients", finite=False)
        if self.input_shape is not None and shape != self.input_shape:
            raise bad_answer("the inputs' gradients do not have the inputs' shape")
        return grads

    def leaves(self) -> set[int]:
        """Identity tokens of the leaf Values this output's graph depends on."""
        answer = answers.record(
            self.student.request("leaves", out=self._key()), "leaves", ("leaves",)
        )
        return set(answers.ints(answer["leaves"], "the graph's leaves", max_len=1_000_000))


@dataclass
class Counts:
    """How many Values parameters() lists, and how many distinct ones among them."""

    listed: int
    distinct: int


@dataclass
class Params(Counts):
    """parameters() as the student listed it, with its data."""

    data: list[float]  # one per distinct Value, in listing order


class Remote:
    """A handle on one of the student's objects (a module or a model)."""

    def __init__(
        self, student: Student, handle: int, name: str, args: tuple[Any, ...] = ()
    ) -> None:
        self.student = student
        self.handle = handle
        self.name = name
        self.args = args
        self.generation = student.client.generation
        self.params: Counts | None = None

    def _handle(self) -> int:
        self.student.check_generation(self.generation)
        return self.handle

    def forward(
        self,
        x: Any,
        *,
        tokens: bool = False,
        keep: bool = False,
        seed: int = 0,
        **kwargs: Any,
    ) -> Output:
        """The output for ``x``; a shape other than the API's fails the asking check."""
        op, fields = self._forward_call(x, tokens, keep, seed, kwargs)
        return self._output(self.student.request(op, **fields), x, tokens, keep)

    def forward_many(
        self,
        inputs: list[Any],
        *,
        tokens: bool = False,
        seed: int = 0,
        apart: bool = False,
        **kwargs: Any,
    ) -> list[Output]:
        """The outputs for several inputs, in one exchange with the worker: the same
        answers as one forward() each (the first failure is raised).

        ``apart``: each input is answered by a fork of the worker of its own, which
        starts from this object as it is and forgets what it saw, so no memory of
        one input (a memo, a cache) can shape the answer to another. Every
        comparison of the outputs for two inputs asks them apart.
        """
        if not apart:
            calls = [self._forward_call(x, tokens, False, seed, kwargs) for x in inputs]
            found = self.student.request_many(calls)
        else:
            found = [
                self.student.request_many(
                    [self._forward_call(x, tokens, False, seed, kwargs)], isolated=True
                )[0]
                for x in inputs
            ]
        return [self._output(a, x, tokens, False) for a, x in zip(found, inputs, strict=True)]

    def input_gradient(self, x: Any, grad: Any) -> tuple[Output, Any]:
        """The output for ``x`` and d sum(grad * output) / dx, in one exchange: the
        forward (kept), the backward from it and the inputs' gradients, as
        ``forward(x, keep=True)``, ``backward(grad)`` and ``input_grads()`` give."""
        calls = [
            self._forward_call(x, False, True, 0, {}),
            ("backward", {"out": "last", "grad": grad}),
            ("input_grads", {"out": "last"}),
        ]
        forwarded, _, grads = self.student.request_many(calls)
        out = self._output(forwarded, x, False, True)
        return out, out.read_input_grads(grads)

    def forward_with(
        self,
        settings: Iterable[list[float]],
        x: Any,
        *,
        tokens: bool = False,
        apart: bool = False,
        **kwargs: Any,
    ) -> list[Output]:
        """For each parameter vector of ``settings``: set the parameters, then forward ``x``.
        In batches (finite differences need dozens of such pairs); ``settings`` is read
        as the batches go, so a lazy one never holds all its vectors at once.

        ``apart``: each setting and its forward in a fork of the worker of its own (see
        forward_many), which also leaves this object's parameters as they were."""

        def calls() -> Iterator[tuple[str, dict[str, Any]]]:
            for data in settings:
                yield self._set_params_call(data)
                yield self._forward_call(x, tokens, False, 0, kwargs)

        if apart:
            found = []
            pairs = calls()
            for setting in pairs:
                group = [setting, next(pairs)]
                found += self.student.request_many(group, isolated=True)
        else:
            found = self.student.request_many(calls())
        return [self._output(a, x, tokens, False) for a in found[1::2]]

    def _forward_call(
        self, x: Any, tokens: bool, keep: bool, seed: int, kwargs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        fields = {
            "handle": self._handle(),
            "input": x,
            "tokens": tokens,
            "kwargs": kwargs,
            "keep": keep,
            "seed": seed,
        }
        return "forward", fields

    def _output(self, result: Any, x: Any, tokens: bool, keep: bool) -> Output:
        answer = answers.record(result, f"{self.name}.forward's answer", ("data",))
        got, data = answers.tensor(answer["data"], f"{self.name}.forward's output")
        shape = self.expected_shape(x)
        if shape is not None and got != shape:
            raise bad_shape(
                f"{self.name}.forward returned shape {_text(got)}; expected {_text(shape)}"
            )
        key = answers.integer(answer.get("out"), "an output handle") if keep else None
        input_shape = None if tokens else answers.tensor(x, "the input")[0]
        return Output(self.student, key, got, data, self.generation, input_shape)

    def expected_shape(self, x: Any) -> list[int] | None:
        """The shape the exercise's API promises for input ``x``."""
        t = len(x) if isinstance(x, list) else 0
        if self.name == "Embedding" and len(self.args) == 2:
            return [t, self.args[1]]
        if self.name in ("LayerNorm", "FeedForward") and self.args:
            return [self.args[0]]
        if self.name in ("SelfAttention", "TransformerBlock") and self.args:
            return [t, self.args[0]]
        if self.name == "MiniGPT" and self.args:
            return [t, self.args[0]]
        return None

    def parameters(self) -> Params:
        """What parameters() lists, with the data of each distinct Value."""
        answer = answers.record(
            self.student.request("params", handle=self._handle()),
            "parameters",
            ("identity", "packed"),
        )
        data = answers.packed_reals(answer["packed"], "the parameters' data")
        identity = answers.ints(answer["identity"], "the parameters' identities", max_len=10**6)
        if any(not 0 <= i < len(data) for i in identity) or len(set(identity)) != len(data):
            raise bad_answer("the parameters' identities do not match their data")
        self.params = Params(len(identity), len(data), data)
        return self.params

    def count(self) -> Counts:
        """How many Values parameters() lists, and how many distinct ones: no data."""
        answer = self.student.request("params", handle=self._handle(), data=False)
        return self._counted(answer)

    def randomize(self, seed: int, scale: float) -> list[float]:
        """Set each distinct parameter to the next ``Random(seed).gauss(0, scale)`` draw
        (the worker draws them: no values travel) and return those draws, drawn here."""
        answer = self.student.request("randomize", handle=self._handle(), seed=seed, scale=scale)
        counted = self._counted(answer)
        draw = random.Random(seed).gauss
        values = [draw(0.0, scale) for _ in range(counted.distinct)]
        self.params = Params(counted.listed, counted.distinct, values)
        return values

    def _counted(self, answer: Any) -> Counts:
        found = answers.record(answer, "the parameters' count", ("listed", "distinct"))
        listed = answers.integer(found["listed"], "a count")
        distinct = answers.integer(found["distinct"], "a count")
        if not 0 <= distinct <= listed <= 10**6 or (listed > 0 and distinct == 0):
            raise bad_answer("the parameters' counts do not add up")
        self.params = Counts(listed, distinct)
        return self.params

    def _count(self) -> int:
        if self.params is None:
            self.count()
        assert self.params is not None
        return self.params.distinct

    def set_params(self, data: list[float]) -> None:
        op, fields = self._set_params_call(data)
        self.student.request(op, **fields)

    def _set_params_call(self, data: list[float]) -> tuple[str, dict[str, Any]]:
        if len(data) != self._count():
            raise RuntimeError("set_params needs one value per distinct parameter")
        if not all(math.isfinite(x) for x in data):
            raise bad_answer(
                "a parameter became inf or nan after an update with your gradients: "
                "some gradient is enormous"
            )
        return "set_params", {"handle": self._handle(), "packed": answers.pack(data)}

    def grads(self) -> list[float]:
        """Each distinct parameter's grad (may be non-finite: checks count those)."""
        count = self._count()
        answer = answers.record(
            self.student.request("grads", handle=self._handle()), "grads", ("packed",)
        )
        return answers.packed_reals(
            answer["packed"], "the parameters' grads", finite=False, length=count
        )

    def tokens(self) -> list[int]:
        """Identity tokens of the distinct parameters, in order."""
        count = self._count()
        answer = answers.record(
            self.student.request("tokens", handle=self._handle()), "tokens", ("tokens",)
        )
        found = answers.ints(answer["tokens"], "the parameters' tokens", max_len=10**6)
        if len(found) != count:
            raise bad_answer("the parameters' tokens do not match their count")
        return found

    def parts(self) -> list[Part]:
        """The objects of the student's own classes this object holds, with a handle on
        each (parameters must have been read or counted first: indices refer to them)."""
        count = self._count()
        answer = answers.record(
            self.student.request("parts", handle=self._handle()), "parts", ("parts",)
        )
        items = answer["parts"]
        if not isinstance(items, list) or len(items) > 10_000:
            raise bad_answer("the list of modules is malformed")
        found: list[Part] = []
        for item in items:
            if not (isinstance(item, list) and len(item) == 5 and item[0] in CLASS_NAMES):
                raise bad_answer("the list of modules is malformed")
            handle = answers.integer(item[2], "a handle")
            held = answers.ints(item[3], "a module's parameters", max_len=10**6)
            within = answers.integer(item[4], "a module's owner")
            if any(not 0 <= i < count for i in held) or not -1 <= within < len(found):
                raise bad_answer("the list of modules is malformed")
            remote = Remote(self.student, handle, item[0])
            found.append(Part(item[0], clean_text(item[1], 120), remote, held, within))
        return found

    def held(self) -> dict[int, Held]:
        """Values reachable from the object's attributes, by identity token."""
        answer = answers.record(
            self.student.request("held", handle=self._handle()), "held", ("held",)
        )
        items = answer["held"]
        if not isinstance(items, list):
            raise bad_answer("the held Values are malformed")
        found: dict[int, Held] = {}
        for item in items[:1_000_000]:
            if not (
                isinstance(item, list)
                and len(item) == 4
                and isinstance(item[1], str)
                and isinstance(item[3], bool)
            ):
                raise bad_answer("the held Values are malformed")
            token = answers.integer(item[0], "a token")
            block = answers.integer(item[2], "a block")
            found[token] = Held(clean_text(item[1], 120), block, item[3])
        return found


@dataclass(frozen=True)
class Held:
    """Where the model keeps one Value: a readable path, the TransformerBlock object that
    holds it (numbered in the order met; -1: none), and whether it is a single Value kept
    as an attribute of a layer (where a constant such as an eps lives)."""

    path: str
    block: int
    attribute: bool


CLASS_NAMES = (
    "Embedding",
    "LayerNorm",
    "FeedForward",
    "SelfAttention",
    "TransformerBlock",
    "MiniGPT",
)


@dataclass
class Part:
    """One object of the student's own classes inside another (a block's LayerNorm...)."""

    cls: str
    path: str
    remote: Remote
    params: list[int]  # indices into the holder's distinct parameters
    within: int  # index of the part that holds this one, or -1


@dataclass
class Generated:
    """What generate returned, and what the judge saw of its calls to the model."""

    ids: list[int]
    start_after: list[int]
    contexts: list[list[int]] = field(default_factory=list)


class Student:
    """The submission, probed through the worker; every answer type-checked."""

    def __init__(self, client: WorkerClient, call_timeout: float, seed: str) -> None:
        self.client = client
        self.call_timeout = call_timeout
        self.seed = seed
        self.budget = 1.0
        self._measured: dict[str, tuple[int, Any]] = {}
        self._confirmed: set[str] = set()  # stages that timed out again when re-run

    # plumbing -----------------------------------------------------------------
    def request(self, op: str, **fields: Any) -> Any:
        return self.client.request(op, self.call_timeout * self.budget, **fields)

    def request_many(
        self, calls: Iterable[tuple[str, dict[str, Any]]], *, isolated: bool = False
    ) -> list[Any]:
        """Several requests in one exchange, each with the budget one request has;
        ``isolated``: in a fork of the worker that forgets them (see forward_many)."""
        return self.client.request_many(calls, self.call_timeout * self.budget, isolated=isolated)

    def fresh_worker(self) -> None:
        """The next request runs in a new worker, forked from the just-imported state: no
        module-level state an earlier request left (a cache keyed by size, say) is there."""
        self.client.close()

    def check_generation(self, generation: int) -> None:
        if generation != self.client.generation:
            raise StudentError(
                error_record({"kind": "crash", "message": "the worker had to be restarted"})
            )

    def rng(self, name: str) -> random.Random:
        """A random source for the named test: fixed per grading, unknown to the submission."""
        return random.Random(f"{self.seed}/{name}")

    def measure(self, key: str, run: Callable[[], T], budget: float = 1.0) -> T:
        """Run a measurement once per grading; several tests read it.

        A failure is paid for (and reported) once and re-raised to every test
        that reads it; a retriable one (timeout, foreign kill) is measured once
        more when a test is re-run (see the judge plugin) before it sticks.
        """
        attempts, found = self._measured.get(key, (0, None))
        if attempts == 0 or (
            isinstance(found, StudentError) and self.may_retry(found) and attempts < 2
        ):
            found = self._attempt(run, budget)
            if attempts and isinstance(found, StudentError):
                self.confirm(found)
            self._measured[key] = (attempts + 1, found)
        if isinstance(found, StudentError):
            raise StudentError(found.record)
        return found

    def may_retry(self, exc: StudentError) -> bool:
        """Re-run after a timeout or a foreign kill, unless that stage already failed twice."""
        return exc.retriable and not (exc.kind == "timeout" and exc.stage in self._confirmed)

    def confirm(self, exc: StudentError) -> None:
        """The failure came back on a re-run: it is the submission's, not the machine's."""
        if exc.kind == "timeout":
            self._confirmed.add(exc.stage)

    def _attempt(self, run: Callable[[], Any], budget: float) -> Any:
        self.budget = budget
        try:
            if self.client.running:
                self.request("reset")
            return run()
        except StudentError as exc:
            return exc
        finally:
            self.budget = 1.0

    # the API ------------------------------------------------------------------
    def build(self, cls: str, *args: Any, seed: int = 0, **kwargs: Any) -> Remote:
        answer = answers.record(
            self.request("new", cls=cls, args=list(args), kwargs=kwargs, seed=seed),
            f"{cls}()",
            ("handle",),
        )
        return Remote(self, answers.integer(answer["handle"], "a handle"), cls, args)

    def model(self, config: dict[str, int], seed: int = 0) -> Remote:
        keys = ("vocab_size", "embed_dim", "num_heads", "num_layers", "max_seq_len")
        return self.build("MiniGPT", *(config[k] for k in keys), seed=seed)

    def loss(self, logits: list[list[float]], targets: list[int]) -> tuple[float, Output]:
        """The student's cross_entropy_loss on given logits, and a handle for backward."""
        answer = answers.record(
            self.request("loss", logits=logits, targets=targets), "the loss", ("loss", "out")
        )
        value = answers.real(answer["loss"], "the loss")
        key = answers.integer(answer["out"], "an output handle")
        return value, Output(self, key, [], value, self.client.generation)

    def generate(
        self,
        model: Remote,
        start: list[int],
        max_new_tokens: int,
        temperature: float = 1.0,
        seed: int = 0,
        logits: tuple[list[float], list[float]] | None = None,
        max_context: int | None = None,
    ) -> Generated:
        """generate() on ``model``; with ``logits`` (last row, every other row), the
        model answers each call with them and reports the contexts it was given."""
        fields: dict[str, Any] = {}
        if logits is not None:
            last, other = logits
            fields = {
                "answer": {"last": last, "other": other},
                "max_calls": max_new_tokens + MAX_CALLS_SLACK,
                "max_context": max_context or 0,
            }
        try:
            result = self.request(
                "generate",
                handle=model._handle(),
                start=start,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                seed=seed,
                **fields,
            )
        except StudentError as exc:
            if exc.kind == "aborted":  # the wrapped model refused a call: a failed check
                raise bad_answer(str(exc)) from None
            raise
        found = answers.record(result, "generate's answer", ("ids", "start_after", "contexts"))
        calls = found["contexts"]
        if not isinstance(calls, list) or len(calls) > max_new_tokens + MAX_CALLS_SLACK:
            raise bad_answer("the record of generate's calls to the model is malformed")
        contexts = [answers.ints(c, "a context", max_len=max_context or 100_000) for c in calls]
        return Generated(
            ids=answers.ints(found["ids"], "generate's result"),
            start_after=answers.ints(found["start_after"], "start_ids after the call"),
            contexts=contexts,
        )
