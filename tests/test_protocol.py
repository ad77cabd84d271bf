"""The judge/worker protocol as units: every answer is checked, every wait has a deadline."""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any, cast

import pack_paths  # noqa: F401  (puts the pack, engine and nn, on sys.path)
import pytest
from engine import Value
from support import local_worker

from grader import paths
from grader.judge import answers
from grader.judge.failures import StudentError, describe, error_record
from grader.judge.worker_client import (
    MAX_BATCH_BYTES,
    WorkerClient,
    chunk_requests,
    decode,
)
from grader.worker import main as worker


@pytest.fixture(autouse=True)
def _pack_value() -> None:
    worker.Value = Value  # what main() binds before the student's code runs


# --- judge side: answers ----------------------------------------------------


def test_tensor_accepts_rectangular_floats_and_names_the_problem() -> None:
    assert answers.tensor([[1, 2.5], [3.0, 4]], "out") == ([2, 2], [[1.0, 2.5], [3.0, 4.0]])
    assert answers.tensor(2.0, "out") == ([], 2.0)
    for bad, words in [
        ([[1.0, 2.0], [3.0]], "ragged"),
        ([[True, 1.0]], "not a number"),
        ([["1.0"]], "not a number"),
        ([[[[1.0]]]], "nested deeper"),
        ([math.nan], "must be finite"),
        ([math.inf], "must be finite"),
    ]:
        with pytest.raises(StudentError, match=words) as caught:
            answers.tensor(bad, "out")
        assert caught.value.kind == "bad_answer"
    assert answers.tensor([math.nan], "grads", finite=False)[1][0] != 0.0  # NaN kept on request


def test_ints_and_reals_refuse_bools_and_wrong_lengths() -> None:
    assert answers.ints([1, 2], "ids") == [1, 2]
    with pytest.raises(StudentError):
        answers.ints([1, True], "ids")
    with pytest.raises(StudentError):
        answers.ints(list(range(11)), "ids", max_len=10)
    with pytest.raises(StudentError, match="expected 3"):
        answers.reals([1.0, 2.0], "grads", length=3)


# --- judge side: error records and message decoding --------------------------


def test_packed_floats_round_trip_exactly_and_anything_else_is_refused() -> None:
    values = [0.1, -2.5e-300, 1e308, 0.0, -0.0, 7.0]
    assert answers.packed_reals(answers.pack(values), "data", length=6) == values
    assert answers.packed_reals(worker.pack(values), "data") == values  # both sides agree
    assert worker.unpack(answers.pack(values)) == values
    odd = answers.packed_reals(answers.pack([math.nan, math.inf]), "grads", finite=False)
    assert math.isnan(odd[0]) and odd[1] == math.inf
    for bad, words in [
        (answers.pack([1.0, math.nan, 1.0, 1.0, 1.0, 1.0]), r"data\[1\] is nan"),
        (answers.pack([1.0]), "has 1 numbers; expected 6"),
        ("AAAA", "whole number"),  # 3 bytes
        ("not base64!", "not a packed list"),
        ([1.0] * 6, "not a packed list"),
        (None, "not a packed list"),
    ]:
        with pytest.raises(StudentError, match=words) as caught:
            answers.packed_reals(bad, "data", length=6)
        assert caught.value.kind == "bad_answer"


def test_error_record_caps_and_types_every_field() -> None:
    record = error_record(
        {
            "kind": "made-up",
            "type": "E" * 10_000,
            "message": "x" * 10_000 + "\x1b[31m",
            "stage": ["not", "a", "string"],
            "frames": [[12, "forward", "return self.w"], ["1", "f", "c"], 5],
            "first": [True, "f", "c"],
            "signal": "yes",
        }
    )
    assert record["kind"] == "exception"
    assert len(record["type"]) <= 80 and len(record["message"]) <= 300
    assert record["stage"] == "" and record["frames"] == [[12, "forward", "return self.w"]]
    assert record["first"] is None and record["signal"] is False
    assert "line 12" in describe(record)


def test_decode_accepts_only_protocol_messages() -> None:
    assert decode(b'{"result": {"x": 1}}') == {"result": {"x": 1}}
    assert decode(b'{"ready": true, "protocol": 8}') is not None
    assert decode(b'{"ready": true, "protocol": 7}') is None  # an older worker
    assert decode(b'{"call": {"context": [0]}}') is None  # protocol 2 only: answered locally now
    assert decode(b'{"result": 1, "error": {}}') is None
    assert decode(b'{"error": "text"}') is None
    assert decode(b"[" * 100_000) is None  # deep nesting: refused, never a crash
    assert decode(b"\xff\xfe") is None
    found = decode(b'{"result": NaN}')
    assert found is not None and math.isnan(found["result"])


# --- worker side: what it accepts from the student ---------------------------


def test_observe_refuses_foreign_objects() -> None:
    budget = [100]
    assert worker.observe([[Value(1.0), Value(2.0)]], "out", budget) == ([1, 2], [[1.0, 2.0]])

    class Sly(Value):
        pass

    for bad, words in [
        ([[Value(1.0), 2.0]], "is a float"),
        ([Sly(1.0)], "subclass of Value"),
        ([[Value(1.0)], [Value(1.0), Value(2.0)]], "same length"),
    ]:
        with pytest.raises(worker.BadOutput, match=words):
            worker.observe(bad, "out", [100])
    wrapped = Value(1.0)
    wrapped.data = None  # type: ignore[assignment]
    with pytest.raises(worker.BadOutput, match="not a number"):
        worker.observe([wrapped], "out", [100])
    with pytest.raises(worker.BadOutput, match="more than"):
        worker.observe([Value(0.0)] * 5, "out", [3])


def test_token_list_and_error_description_are_capped() -> None:
    assert worker.token_list((1, 2), "ids") == [1, 2]
    with pytest.raises(worker.BadOutput):
        worker.token_list([1, 2.0], "ids")
    huge = type("E" * 5000, (Exception,), {})("m" * 5000)
    record = worker.describe_error(huge, Path("/nowhere.py"), "stage")
    assert len(json.dumps(record)) < 1000


# --- the live pipe: a real worker process -------------------------------------


def _client(tmp_path: Path, source: str) -> WorkerClient:
    path = tmp_path / "minigpt.py"
    path.write_text(source, encoding="utf-8")
    return cast(WorkerClient, local_worker(path))


ECHO = """
from engine import Value
from nn import Module

class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        self.w = [Value(1.0) for _ in range(dim)]
    def forward(self, x):
        return [a * w for a, w in zip(x, self.w)]

class Embedding(Module):
    def __init__(self, n, d):
        pass
    def forward(self, ids):
        while True:
            pass
"""


def test_requests_round_trip_and_a_hang_is_a_cpu_timeout(tmp_path: Path) -> None:
    client = _client(tmp_path, ECHO)
    try:
        handle = client.request("new", 5, cls="LayerNorm", args=[3], kwargs={}, seed=1)["handle"]
        out = client.request("forward", 5, handle=handle, input=[1.0, 2.0, 3.0], keep=True)
        assert out["data"] == [1.0, 2.0, 3.0]
        assert client.request("params", 5, handle=handle)["identity"] == [0, 1, 2]
        client.request("backward", 5, out=out["out"], grad=[1.0, 2.0, 3.0])
        grads = client.request("grads", 5, handle=handle)["packed"]
        assert answers.packed_reals(grads, "grads") == [1.0, 4.0, 9.0]
        emb = client.request("new", 5, cls="Embedding", args=[3, 2], kwargs={}, seed=1)["handle"]
        with pytest.raises(StudentError) as caught:
            client.request("forward", 0.5, handle=emb, input=[1], tokens=True)
        assert caught.value.kind == "timeout" and caught.value.retriable
        assert "Embedding.forward()" in str(caught.value)
        assert not client.running, "a hung worker is killed"
    finally:
        client.shutdown()


SHARED = """
from engine import Value
from nn import Module

class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        self.w = [Value(1.0) for _ in range(dim)]
    def parameters(self):
        return self.w + self.w[:1]  # the first one twice: 4 listed, 3 distinct
    def forward(self, x):
        return [a * w for a, w in zip(x, self.w)]
"""


def test_randomize_sets_what_the_judge_draws_and_counts_need_no_data(tmp_path: Path) -> None:
    from grader.judge.remote import Student

    client = _client(tmp_path, SHARED)
    try:
        norm = Student(client, 5.0, "seed").build("LayerNorm", 3, seed=1)
        counted = norm.count()
        assert (counted.listed, counted.distinct) == (4, 3)
        drawn = norm.randomize(12345, 0.5)
        assert len(drawn) == 3 and len(set(drawn)) == 3 and drawn != [1.0, 1.0, 1.0]
        listed = norm.parameters()
        assert listed.data == drawn, "the worker set exactly the values the judge drew"
        assert norm.forward([1.0, 1.0, 1.0]).data == drawn
        assert norm.randomize(12345, 0.5) == drawn and norm.randomize(6789, 0.5) != drawn
        for lie in ({"listed": 2, "distinct": 3}, {"listed": 2, "distinct": 0}, {"listed": -1}):
            with pytest.raises(StudentError) as caught:
                norm._counted(lie)
            assert caught.value.kind == "bad_answer"
    finally:
        client.shutdown()


def test_a_batch_answers_like_single_requests_and_stops_at_its_first_failure(
    tmp_path: Path,
) -> None:
    raiser = ECHO.replace(
        "        return [a * w for a, w in zip(x, self.w)]",
        "        if x[0].data < 0:\n            raise ValueError('negative')\n"
        "        return [a * w for a, w in zip(x, self.w)]",
    )
    client = _client(tmp_path, raiser)
    try:
        handle = client.request("new", 5, cls="LayerNorm", args=[2], kwargs={}, seed=1)["handle"]

        def forward(x: list[float]) -> tuple[str, dict[str, Any]]:
            return "forward", {"handle": handle, "input": x}

        alone = [
            client.request("forward", 5, handle=handle, input=x) for x in ([1.0, 2.0], [3.0, 4.0])
        ]
        assert client.request_many([forward([1.0, 2.0]), forward([3.0, 4.0])], 5) == alone
        # The failing request ends the batch: the set_params after it never runs.
        with pytest.raises(StudentError, match="negative") as caught:
            client.request_many(
                [
                    forward([1.0, 2.0]),
                    forward([-1.0, 2.0]),
                    ("set_params", {"handle": handle, "packed": answers.pack([7.0, 7.0])}),
                ],
                5,
            )
        assert caught.value.kind == "exception" and client.running
        assert client.request("forward", 5, handle=handle, input=[1.0, 1.0])["data"] == [1.0, 1.0]
        # A batch larger than one message is split, and still answered in order.
        many = [forward([float(i), 1.0]) for i in range(1, 30_000)]
        chunks = list(chunk_requests(many))
        assert len(chunks) > 1
        assert all(sum(len(text) + 1 for _, text in c) <= MAX_BATCH_BYTES for c in chunks)
        found = client.request_many(many, 5)
        assert [r["data"][0] for r in found] == [float(i) for i in range(1, 30_000)]
    finally:
        client.shutdown()


def test_last_names_the_output_kept_most_recently(tmp_path: Path) -> None:
    """A forward(keep) and the requests on its output in one batch, through "last"."""
    client = _client(tmp_path, ECHO)
    try:
        with pytest.raises(StudentError) as caught:
            client.request("input_grads", 5, out="last")
        assert caught.value.kind == "protocol", "nothing kept yet: no last output"
        handle = client.request("new", 5, cls="LayerNorm", args=[2], kwargs={}, seed=1)["handle"]

        def kept(x: list[float]) -> tuple[str, dict[str, Any]]:
            return "forward", {"handle": handle, "input": x, "keep": True}

        first, _, grads = client.request_many(
            [
                kept([1.0, 2.0]),
                ("backward", {"out": "last", "grad": [3.0, 5.0]}),
                ("input_grads", {"out": "last"}),
            ],
            5,
        )
        assert grads == {"grads": [3.0, 5.0]}, "d(3*a + 5*b)/d(a, b) through weights of 1"
        second = client.request("forward", 5, handle=handle, input=[4.0, 4.0], keep=True)
        client.request("backward", 5, out="last", grad=[1.0, 2.0])
        assert client.request("input_grads", 5, out="last") == {"grads": [1.0, 2.0]}
        client.request("backward", 5, out=first["out"], grad=[7.0, 0.0])
        assert client.request("input_grads", 5, out=first["out"]) == {"grads": [7.0, 0.0]}, (
            "an earlier key still names its own output"
        )
        assert second["out"] != first["out"]
    finally:
        client.shutdown()


def test_a_request_for_a_missing_class_names_it(tmp_path: Path) -> None:
    client = _client(tmp_path, ECHO)
    try:
        with pytest.raises(StudentError, match="does not define `MiniGPT`") as caught:
            client.request("new", 5, cls="MiniGPT", args=[], kwargs={}, seed=0)
        assert caught.value.kind == "missing"
        with pytest.raises(StudentError) as caught:
            client.request("new", 5, cls="os", args=[], kwargs={}, seed=0)
        assert caught.value.kind == "protocol"
    finally:
        client.shutdown()


def test_forged_and_garbled_answers_fail_only_that_request(tmp_path: Path) -> None:
    forger = (
        ECHO
        + """
import os
class FeedForward(Module):
    def __init__(self, d, hidden_dim=None):
        pass
    def forward(self, x):
        for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
            try:
                if fd > 2:
                    os.write(fd, b'{"result": {"data": [9.0]}, "extra": 1}\\n')
            except OSError:
                pass
        return x
"""
    )
    client = _client(tmp_path, forger)
    try:
        ff = client.request("new", 5, cls="FeedForward", args=[2], kwargs={}, seed=0)["handle"]
        with pytest.raises(StudentError, match="garbled"):
            client.request("forward", 5, handle=ff, input=[1.0, 2.0])
        handle = client.request("new", 5, cls="LayerNorm", args=[2], kwargs={}, seed=0)["handle"]
        assert client.request("forward", 5, handle=handle, input=[1.0, 2.0])["data"] == [1.0, 2.0]
    finally:
        client.shutdown()


def test_a_closed_answer_pipe_is_not_a_wait_until_the_wall_clock(tmp_path: Path) -> None:
    closer = (
        ECHO
        + """
import os, time
class FeedForward(Module):
    def __init__(self, d, hidden_dim=None):
        pass
    def forward(self, x):
        for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
            try:
                if fd > 2:
                    os.close(fd)
            except OSError:
                pass
        time.sleep(60)
"""
    )
    client = _client(tmp_path, closer)
    try:
        ff = client.request("new", 5, cls="FeedForward", args=[2], kwargs={}, seed=0)["handle"]
        with pytest.raises(StudentError) as caught:
            client.request("forward", 30, handle=ff, input=[1.0, 2.0])
        assert caught.value.kind == "crash"
    finally:
        client.shutdown()


# --- judge side: measurements are paid once, a machine hiccup is re-run once --


class FlakyClient:
    """Stands in for WorkerClient: fails the first ``failures`` requests with ``record``."""

    def __init__(self, failures: int, record: dict[str, Any]) -> None:
        self.failures = failures
        self.record = record
        self.requests: list[str] = []
        self.running = False
        self.generation = 1

    def request(self, op: str, timeout: float, **fields: Any) -> Any:
        self.requests.append(op)
        if self.failures:
            self.failures -= 1
            raise StudentError(error_record(self.record))
        return {"handle": 1}

    def close(self) -> None:
        self.running = False


TIMEOUT = {"kind": "timeout", "stage": "MiniGPT.forward()", "seconds": 1.0}


def _student(client: FlakyClient) -> Any:
    from grader.judge.remote import Student

    return Student(client, 1.0, "seed")  # type: ignore[arg-type]


def test_a_measurement_runs_once_and_its_failure_is_shared() -> None:
    client = FlakyClient(1, {"kind": "exception", "message": "boom"})
    student = _student(client)
    runs = []

    def run() -> int:
        runs.append(1)
        return int(student.build("LayerNorm", 3).handle)

    for _ in range(3):
        with pytest.raises(StudentError, match="boom"):
            student.measure("m", run)
    assert len(runs) == 1, "a deterministic failure is measured once, not once per test"


def test_a_timeout_is_measured_again_once_and_then_sticks() -> None:
    client = FlakyClient(1, TIMEOUT)
    student = _student(client)
    with pytest.raises(StudentError):
        student.measure("m", lambda: student.build("LayerNorm", 3).handle)
    assert student.measure("m", lambda: student.build("LayerNorm", 3).handle) == 1
    stuck = _student(FlakyClient(10, TIMEOUT))
    for _ in range(3):
        with pytest.raises(StudentError):
            stuck.measure("m", lambda: stuck.build("LayerNorm", 3).handle)
    assert len(stuck.client.requests) == 2, "measured twice, then the timeout counts"
    assert not stuck.may_retry(StudentError(error_record(TIMEOUT)))
    assert stuck.may_retry(
        StudentError(error_record({"kind": "crash", "stage": "x", "signal": True}))
    ), "a foreign kill in another stage is still worth a re-run"


def test_the_grading_seed_depends_on_the_bytes_and_the_key(tmp_path: Path) -> None:
    from grader.judge.runner import grading_seed

    key = tmp_path / "key"
    key.write_bytes(b"secret")
    a = grading_seed(b"x = 1\n", key)
    assert a == grading_seed(b"x = 1\n", key), "the same bytes get the same probe inputs"
    assert a != grading_seed(b"x = 2\n", key)
    assert a != grading_seed(b"x = 1\n", None), "without the key the inputs differ"


def test_fork_server_messages_are_typed_and_capped() -> None:
    """The fork server is the student's process: only its two messages, with small ints."""
    from grader.judge.worker_client import decode_control

    assert decode_control(b'{"pid": 42}') == {"pid": 42}
    assert decode_control(b'{"exit": 42, "status": 9}') == {"exit": 42, "status": 9}
    for forged in (
        b'{"pid": -1}',
        b'{"pid": 4294967296}',
        b'{"pid": true}',
        b'{"pid": 1.5}',
        b'{"pid": 7, "extra": 1}',
        b'{"exit": 7}',
        b'{"ready": true, "protocol": 4}',
        b"[1]",
        b"\xff",
        b"[" * 100_000,
    ):
        assert decode_control(forged) is None, forged


MEMORY = """
from engine import Value
from nn import Module

SEEN = []

class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        pass
    def forward(self, x):
        SEEN.append(1)
        return [Value(float(len(SEEN))) for _ in x]
"""


def test_fresh_workers_are_forks_of_the_just_imported_state(tmp_path: Path) -> None:
    """A fresh worker remembers nothing an earlier one saw, and costs no new import."""
    client = _client(tmp_path, MEMORY)

    def forward_twice() -> list[float]:
        handle = client.request("new", 5, cls="LayerNorm", args=[1], kwargs={}, seed=0)["handle"]
        return [client.request("forward", 5, handle=handle, input=[1.0])["data"][0] for _ in "ab"]

    try:
        assert forward_twice() == [1.0, 2.0]  # the same worker keeps its module's state
        first = client._pid
        client.close()
        assert forward_twice() == [1.0, 2.0], "a fresh worker starts from the import's state"
        assert client._pid != first and client.generation == 2
        assert client._zygote is not None and client._zygote.poll() is None, "one fork server"
    finally:
        client.shutdown()
    assert client._zygote is None and not client.running


ISOLATION = """
import math
from engine import Value
from nn import Module

SEEN = []

class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        self.w = [Value(1.0) for _ in range(dim)]
    def forward(self, x):
        SEEN.append(x[0].data)
        if x[0].data == 13.0:
            raise ValueError("thirteen")
        if x[0].data == 99.0:
            math.factorial(10**8)  # a request that hangs (in CPU)
        if x[0].data == 77.0:
            import signal
            signal.raise_signal(signal.SIGSTOP)  # the fork stops itself: no CPU, no answer
        return [Value(float(len(SEEN)))] + [a * w for a, w in zip(x[1:], self.w)]
"""


def test_isolated_groups_forget_what_they_saw(tmp_path: Path) -> None:
    """Each isolated group starts from the worker as it was and leaves nothing behind;
    a failure in one fails that request alone; a hang is a timeout as always."""
    client = _client(tmp_path, ISOLATION)
    try:
        handle = client.request("new", 5, cls="LayerNorm", args=[2], kwargs={}, seed=0)["handle"]

        def forward(x: float) -> tuple[str, dict[str, Any]]:
            return "forward", {"handle": handle, "input": [x, 1.0, 2.0]}

        apart = [client.request_many([forward(x)], 5, isolated=True)[0] for x in (1.0, 2.0)]
        assert [a["data"][0] for a in apart] == [1.0, 1.0], "each group saw only its own input"
        together = client.request_many([forward(3.0), forward(4.0)], 5, isolated=True)
        assert [a["data"][0] for a in together] == [1.0, 2.0], "one group shares one fork"
        pid = client._pid
        with pytest.raises(StudentError, match="thirteen") as caught:
            client.request_many([forward(13.0), forward(5.0)], 5, isolated=True)
        assert caught.value.kind == "exception" and client._pid == pid, "the worker lives on"
        alone = client.request("forward", 5, handle=handle, input=[6.0, 1.0, 2.0])
        assert alone["data"][0] == 1.0, "the worker itself never saw the isolated inputs"
        with pytest.raises(StudentError) as caught:
            client.request_many([forward(99.0)], 0.5, isolated=True)
        assert caught.value.kind == "timeout", "a fork's CPU counts against the request"
        assert not client.running
        handle = client.request("new", 5, cls="LayerNorm", args=[2], kwargs={}, seed=0)["handle"]
        began = time.monotonic()
        with pytest.raises(StudentError) as caught:
            client.request_many([forward(77.0)], 5, isolated=True)
        assert caught.value.kind == "timeout" and "stopped" in str(caught.value)
        assert time.monotonic() - began < 5, "a stopped fork is seen at once, not at the wall"
    finally:
        client.shutdown()


PARTS = """
from engine import Value
from nn import Linear, Module

class Holder:
    __slots__ = ("inner", "__private")
    def __init__(self, inner):
        self.inner = inner
        self.__private = Value(2.0)

class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        self.g = [Value(1.0) for _ in range(dim)]
    def forward(self, x):
        return list(x)

class FinalNorm(LayerNorm):
    pass

class TransformerBlock(Module):
    def __init__(self, d, h):
        self.norms = {"a": LayerNorm(d), "b": LayerNorm(d)}
        self.lin = Linear(d, d)

class MiniGPT(Module):
    def __init__(self, v, d, h, l, n):
        self.blocks = (TransformerBlock(d, h),)
        self.box = Holder(FinalNorm(d))
        self.extra = Value(3.0)
"""


def test_parts_are_found_by_class_through_slots_dicts_and_subclasses(tmp_path: Path) -> None:
    from grader.judge.remote import Student

    client = _client(tmp_path, PARTS)
    try:
        student = Student(client, 5.0, "seed")
        gpt = student.build("MiniGPT", 5, 2, 1, 1, 4, seed=0)
        gpt.count()
        found = gpt.parts()
        assert [(p.cls, p.path) for p in found] == [
            ("TransformerBlock", "model.blocks[0]"),
            ("LayerNorm", "model.box.inner"),
            ("LayerNorm", "model.blocks[0].norms[a]"),
            ("LayerNorm", "model.blocks[0].norms[b]"),
        ]
        block, final, norm_a, norm_b = found
        assert (block.within, final.within, norm_a.within, norm_b.within) == (-1, -1, 0, 0)
        assert len(block.params) == 2 + 2 + 2 * 2 + 2
        assert final.params == [], "Holder is no Module: parameters() misses the final norm"
        assert set(norm_a.params) | set(norm_b.params) < set(block.params)
        assert norm_a.remote.forward([1.0, 2.0]).data == [1.0, 2.0], "a part works alone"
        held = {h.path: h for h in gpt.held().values()}
        assert "model.box.__private" in held, "a private slot is found"
        assert not held["model.box.__private"].attribute, "Holder is not a layer"
        assert held["model.extra"].attribute, "a single Value kept by a layer"
        assert not held["model.blocks[0].lin.weight[0][0]"].attribute, "a row of a matrix"
        assert held["model.blocks[0].lin.weight[0][0]"].block == 0
    finally:
        client.shutdown()


def test_last_names_the_object_built_most_recently(tmp_path: Path) -> None:
    client = _client(tmp_path, ECHO)
    try:
        with pytest.raises(StudentError) as caught:
            client.request("params", 5, handle="last")
        assert caught.value.kind == "protocol", "nothing built yet"
        built, counted, out = client.request_many(
            [
                ("new", {"cls": "LayerNorm", "args": [2], "kwargs": {}, "seed": 0}),
                ("randomize", {"handle": "last", "seed": 5, "scale": 1.0}),
                ("forward", {"handle": "last", "input": [1.0, 1.0]}),
            ],
            5,
        )
        assert counted == {"listed": 2, "distinct": 2}
        draw = random.Random(5).gauss
        assert out["data"] == [draw(0.0, 1.0), draw(0.0, 1.0)]
        assert client.request("params", 5, handle=built["handle"])["identity"] == [0, 1]
    finally:
        client.shutdown()


FORGED_PID = """
import os, sys, threading, time

def _forge():
    fd = int(sys.argv[sys.argv.index("--control") + 1])
    line = ('{"pid": %d}\\n' % os.getppid()).encode()  # the judge's own pid
    for _ in range(200):
        try:
            os.write(fd, line)
        except OSError:
            return
        time.sleep(0.01)

threading.Thread(target=_forge, daemon=True).start()
time.sleep(0.2)
"""


def test_a_pid_the_fork_server_makes_up_is_never_signalled(tmp_path: Path) -> None:
    """Told that the judge itself is the new worker, the judge refuses it and lives on."""
    client = _client(tmp_path, FORGED_PID)
    try:
        with pytest.raises(StudentError) as caught:
            client.request("new", 5, cls="LayerNorm", args=[1], kwargs={}, seed=0)
        assert caught.value.kind == "crash"
    finally:
        client.shutdown()
    assert os.getpgid(0) > 0  # still here: neither this process nor its group was killed


def test_an_impossible_exit_status_is_an_unknown_one(tmp_path: Path) -> None:
    """A fork server may report any int as a wait status; one no process ends with
    (0x7f: stopped) must not crash the judge, it only makes the status unknown."""
    client = _client(tmp_path, ECHO)
    client._exits[4242] = 0x7F
    assert client._exit_code(4242, 0.1) is None
    client._exits[4242] = 9  # killed by SIGKILL
    assert client._exit_code(4242, 0.1) == -9


# A grading seed whose random weights put a ReLU input of the reference so close to zero
# that, along two of the directions tried, the central difference and the step up both
# crossed the kink and disagreed with the correct gradient; only the step down agreed
# (found by searching seeds: about one grading in 300 has such a direction).
KINK_SEED = "kink-149"


def test_a_kink_next_to_the_point_costs_a_correct_gradient_nothing(tmp_path: Path) -> None:
    from grader.judge.remote import Student
    from grader.suite import test_gradients

    client = _client(tmp_path, paths.REFERENCE_PATH.read_text(encoding="utf-8"))
    try:
        result = test_gradients.measure(Student(client, 10.0, KINK_SEED))
    finally:
        client.shutdown()
    assert result["count"] > 400 and result["nonfinite"] == 0
    assert result["kinked"] > 0, "this seed no longer puts a kink next to the point"
    assert result["mismatches"] == [], "a one-sided difference agrees where the central one fails"
    assert abs(result["zero_rate"]) <= 1e-5
