"""The exercise pack as a whole: reference solution, skeleton, public tests, train.py.

The reference must pass the public tests and behave as the problem statement
says; the untouched skeleton must fail every public test with a one-line
"not implemented yet" message; train.py must train; the benchmark's baseline
model must compute exactly what the reference computes.
"""

from __future__ import annotations

import ast
import inspect
import math
import os
import random
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pack_paths
import pytest
from engine import Value
from nn import Module

ref = pack_paths.import_reference()

PUBLIC_API = [
    "Embedding",
    "LayerNorm",
    "FeedForward",
    "SelfAttention",
    "TransformerBlock",
    "MiniGPT",
    "cross_entropy_loss",
    "generate",
]


# --------------------------------------------------------------------------
# helpers


def copy_pack(tmp_path: Path, solution: Path | None = None) -> Path:
    """A fresh copy of student_template/, optionally with another minigpt.py."""
    dest = tmp_path / "pack"
    shutil.copytree(
        pack_paths.TEMPLATE_DIR,
        dest,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"),
    )
    if solution is not None:
        shutil.copyfile(solution, dest / "minigpt.py")
    return dest


def student_env() -> dict[str, str]:
    """The environment of a student who only installed pytest."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def run_public_tests(pack: Path) -> tuple[subprocess.CompletedProcess[str], list[ET.Element]]:
    report = pack.parent / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=pack,
        env=student_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    cases = list(ET.parse(report).getroot().iter("testcase")) if report.exists() else []
    return proc, cases


def public_test_names() -> set[str]:
    names = set()
    for path in (pack_paths.TEMPLATE_DIR / "tests").glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        }
    return names


def data(rows: list[list[Value]]) -> list[list[float]]:
    return [[v.data for v in row] for row in rows]


def close_rows(a: list[list[float]], b: list[list[float]], tol: float = 1e-9) -> bool:
    return len(a) == len(b) and all(
        len(r) == len(s) and all(abs(x - y) <= tol for x, y in zip(r, s, strict=True))
        for r, s in zip(a, b, strict=True)
    )


def small_model(**overrides: int) -> Any:
    sizes = {"vocab_size": 6, "embed_dim": 8, "num_heads": 2, "num_layers": 2, "max_seq_len": 5}
    sizes.update(overrides)
    return ref.MiniGPT(**sizes)


# --------------------------------------------------------------------------
# the public tests, on the reference and on the skeleton


def test_reference_passes_every_public_test(tmp_path: Path) -> None:
    proc, cases = run_public_tests(copy_pack(tmp_path, pack_paths.REFERENCE_PATH))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {c.get("name") for c in cases} == public_test_names()
    assert all(len(c) == 0 for c in cases), "no failure, error or skip"


def test_skeleton_fails_every_public_test_cleanly(tmp_path: Path) -> None:
    proc, cases = run_public_tests(copy_pack(tmp_path))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert {c.get("name") for c in cases} == public_test_names()
    for case in cases:
        failures = case.findall("failure")
        assert len(failures) == 1 and len(case) == 1, f"{case.get('name')} must fail"
        message = failures[0].get("message", "")
        assert "is not implemented yet" in message, message
    assert "Traceback" not in output and 'File "' not in output, output
    assert "engine.py" not in output and "conftest.py" not in output, output
    assert f"{len(cases)} failed" in output


def test_skeleton_has_the_reference_signatures() -> None:
    skeleton = pack_paths.import_skeleton()
    for name in PUBLIC_API:
        ours, theirs = getattr(skeleton, name), getattr(ref, name)
        if inspect.isclass(theirs):
            for method in ("__init__", "forward"):
                assert inspect.signature(getattr(ours, method)) == inspect.signature(
                    getattr(theirs, method)
                ), f"{name}.{method}"
            assert issubclass(ours, Module)
        else:
            assert inspect.signature(ours) == inspect.signature(theirs), name


def required_args(func: Any) -> list[Any]:
    params = inspect.signature(func).parameters.values()
    return [[1] for p in params if p.default is inspect.Parameter.empty]


def test_skeleton_messages_name_the_missing_part() -> None:
    skeleton = pack_paths.import_skeleton()
    for name in PUBLIC_API:
        obj = getattr(skeleton, name)
        if inspect.isclass(obj):
            with pytest.raises(NotImplementedError, match=rf"^{name}\.__init__ is not implemented"):
                obj(*required_args(obj))
            bare: Any = object.__new__(obj)
            with pytest.raises(NotImplementedError, match=rf"^{name}\.forward is not implemented"):
                bare(*required_args(bare.forward))
        else:
            with pytest.raises(NotImplementedError, match=rf"^{name} is not implemented"):
                obj(*required_args(obj))


# --------------------------------------------------------------------------
# train.py


def test_train_script_lowers_the_loss(tmp_path: Path) -> None:
    pack = copy_pack(tmp_path, pack_paths.REFERENCE_PATH)
    flags = ["--steps", "40", "--print-every", "20", "--sample-length", "25"]
    proc = subprocess.run(
        [sys.executable, "train.py", *flags],
        cwd=pack,
        env=student_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    losses = [
        float(line.split()[3]) for line in proc.stdout.splitlines() if line.startswith("step")
    ]
    assert len(losses) == 3, proc.stdout  # steps 1, 20, 40
    assert losses[-1] < 0.8 * losses[0], proc.stdout
    sample = proc.stdout.split("sample:\n", 1)[1].rstrip("\n")
    assert len(sample) == 26, "the prompt character plus 25 generated ones"


def test_train_script_on_the_skeleton_explains(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "train.py", "--steps", "1"],
        cwd=copy_pack(tmp_path),
        env=student_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "not finished yet" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------
# the reference: training


@pytest.mark.parametrize("seed", [0, 1])
def test_reference_overfits_a_tiny_corpus(seed: int) -> None:
    random.seed(seed)
    text = "hello world, hello moon"
    chars = sorted(set(text))
    ids = [chars.index(c) for c in text]
    model = ref.MiniGPT(len(chars), 16, 2, 2, 8)
    params = model.parameters()
    windows = [(ids[i : i + 8], ids[i + 1 : i + 9]) for i in (0, 7, 14)]

    def loss_now() -> float:
        total = sum(ref.cross_entropy_loss(model(x), y).data for x, y in windows)
        return float(total) / len(windows)

    initial = loss_now()
    for step in range(30):
        x, y = windows[step % len(windows)]
        loss = ref.cross_entropy_loss(model(x), y)
        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            p.data -= 0.3 * p.grad
    final = loss_now()
    assert final < 0.5 * initial, f"loss went from {initial:.3f} to {final:.3f}"


def test_reference_gradients_match_finite_differences() -> None:
    random.seed(3)
    model = small_model(vocab_size=5, embed_dim=4, num_layers=1, max_seq_len=4)
    x, y = [0, 3, 1, 4], [3, 1, 4, 2]
    params = model.parameters()
    loss = ref.cross_entropy_loss(model(x), y)
    model.zero_grad()
    loss.backward()
    for p in random.sample(params, 40):
        original = p.data
        p.data = original + 1e-5
        high = ref.cross_entropy_loss(model(x), y).data
        p.data = original - 1e-5
        low = ref.cross_entropy_loss(model(x), y).data
        p.data = original
        numeric = (high - low) / 2e-5
        assert math.isclose(p.grad, numeric, rel_tol=1e-4, abs_tol=1e-7), (p.grad, numeric)


def test_reference_step_is_fast() -> None:
    random.seed(0)
    model = ref.MiniGPT(27, 16, 2, 2, 8)
    x, y = [1, 5, 9, 2, 6, 5, 3, 5], [5, 9, 2, 6, 5, 3, 5, 8]
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        ref.cross_entropy_loss(model(x), y).backward()
        best = min(best, time.perf_counter() - start)
    assert best < 0.5, f"one forward+backward took {best:.2f}s; expected about 0.05s"


# --------------------------------------------------------------------------
# the reference: components


def test_parameter_count_follows_the_architecture() -> None:
    v, d, layers, t = 6, 8, 2, 5
    per_block = 2 * d + 3 * d * d + (d * d + d) + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d)
    expected = v * d + t * d + layers * per_block + 2 * d + (d * v + v)
    assert len(small_model().parameters()) == expected


def test_embedding_returns_the_table_values() -> None:
    emb = ref.Embedding(5, 3)
    rows = emb([4, 0, 4])
    assert rows[0][0] is emb.weight[4][0] and rows[2][2] is emb.weight[4][2]
    assert rows[0] is not emb.weight[4], "a new list: changing it leaves the table alone"
    for bad in (-1, 5, 1.0, True):
        with pytest.raises(ValueError):
            emb([0, bad])


def test_layernorm_formula_with_eps_inside_the_root() -> None:
    norm = ref.LayerNorm(3, eps=0.5)
    norm.gain[0].data, norm.bias[2].data = 2.0, 1.0
    out = [v.data for v in norm([Value(1.0), Value(2.0), Value(6.0)])]
    mean, var = 3.0, (4 + 1 + 9) / 3
    expected = [(x - mean) / math.sqrt(var + 0.5) for x in (1.0, 2.0, 6.0)]
    expected[0] *= 2.0
    expected[2] += 1.0
    assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(out, expected, strict=True))
    with pytest.raises(ValueError):
        norm([Value(1.0)])


def test_feedforward_hidden_size_and_relu() -> None:
    assert len(ref.FeedForward(4).hidden.weight) == 16
    ff = ref.FeedForward(4, hidden_dim=3)
    assert len(ff.hidden.weight) == 3 and len(ff.output.weight[0]) == 3
    for row in ff.hidden.weight:
        for w in row:
            w.data = -1.0  # every hidden pre-activation is negative for positive x
    out = ff([Value(1.0)] * 4)
    assert [v.data for v in out] == [b.data for b in ff.output.bias], "ReLU zeroes the hidden layer"


def test_attention_identical_rows_give_identical_rows() -> None:
    attn = ref.SelfAttention(4)
    row = [0.3, -0.1, 0.8, 0.2]
    for causal in (True, False):
        out = data(attn([[Value(x) for x in row] for _ in range(3)], causal=causal))
        assert close_rows(out, [out[0]] * 3, tol=1e-12)


def test_attention_causal_mask() -> None:
    attn = ref.SelfAttention(4)
    x = [[Value(random.uniform(-1, 1)) for _ in range(4)] for _ in range(4)]
    changed = [*x[:2], [Value(3.0), Value(-2.0), Value(1.0), Value(0.0)], x[3]]
    base, moved = data(attn(x)), data(attn(changed))
    assert close_rows(base[:2], moved[:2]), "positions 0 and 1 must not see position 2"
    assert not close_rows(base[2:], moved[2:])
    open_base, open_moved = data(attn(x, causal=False)), data(attn(changed, causal=False))
    assert not close_rows(open_base[:1], open_moved[:1]), "causal=False sees everything"


def test_model_is_causal_and_uses_positions() -> None:
    model = small_model()
    base, moved = data(model([1, 2, 3, 4])), data(model([1, 2, 3, 0]))
    assert close_rows(base[:3], moved[:3]) and not close_rows(base[3:], moved[3:])
    same = data(model([2, 2, 2]))
    assert not close_rows([same[0]], [same[1]]), "positions must be embedded"


def test_block_with_zero_weights_is_the_identity() -> None:
    block = ref.TransformerBlock(4, 2)
    for p in block.parameters():
        p.data = 0.0
    x = [[random.uniform(-1, 1) for _ in range(4)] for _ in range(3)]
    assert close_rows(data(block([[Value(v) for v in row] for row in x])), x, tol=0.0)


@pytest.mark.parametrize("heads", [0, -1, 1.5, True])
def test_num_heads_is_validated(heads: Any) -> None:
    with pytest.raises(ValueError, match="num_heads"):
        ref.TransformerBlock(4, heads)


def test_forward_checks_the_sequence() -> None:
    model = small_model()
    assert len(model([1] * 5)) == 5
    with pytest.raises(ValueError, match="max_seq_len"):
        model([1] * 6)
    with pytest.raises(ValueError):
        model([])
    for bad in (-1, 6):
        with pytest.raises(ValueError):
            model([0, bad])


def test_model_exposes_its_sizes() -> None:
    model = small_model()
    assert (model.vocab_size, model.max_seq_len) == (6, 5)


# --------------------------------------------------------------------------
# the reference: loss


def test_cross_entropy_formula_and_gradient() -> None:
    rows = [[random.uniform(-3, 3) for _ in range(5)] for _ in range(3)]
    targets = [4, 0, 2]
    logits = [[Value(z) for z in row] for row in rows]
    loss = ref.cross_entropy_loss(logits, targets)
    expected = sum(
        math.log(sum(math.exp(z) for z in row)) - row[t]
        for row, t in zip(rows, targets, strict=True)
    ) / len(rows)
    assert math.isclose(loss.data, expected, rel_tol=1e-12)
    loss.backward()
    for row, values, t in zip(rows, logits, targets, strict=True):
        total = sum(math.exp(z) for z in row)
        for j, (z, v) in enumerate(zip(row, values, strict=True)):
            want = (math.exp(z) / total - (j == t)) / len(rows)
            assert math.isclose(v.grad, want, abs_tol=1e-12)


def test_cross_entropy_is_stable_and_checked() -> None:
    logits = [[Value(1000.0), Value(-1000.0)], [Value(-1000.0), Value(1000.0)]]
    assert ref.cross_entropy_loss(logits, [0, 1]).data == 0.0
    loss = ref.cross_entropy_loss(logits, [1, 1])
    assert math.isclose(loss.data, 1000.0)
    loss.backward()
    assert math.isclose(logits[0][0].grad, 0.5) and math.isclose(logits[0][1].grad, -0.5)
    with pytest.raises(ValueError):
        ref.cross_entropy_loss(logits, [0])
    with pytest.raises(ValueError):
        ref.cross_entropy_loss(logits, [0, 2])


# --------------------------------------------------------------------------
# the reference: generate


class Recording(Module):
    """Wraps a model and records every context generate() passes to it."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.max_seq_len: int = model.max_seq_len
        self.contexts: list[list[int]] = []

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        self.contexts.append(list(token_ids))
        result: list[list[Value]] = self.model(token_ids)
        return result


def test_generate_crops_the_context() -> None:
    model = Recording(ref.MiniGPT(6, 8, 2, 1, 4))
    start = [5, 4, 3, 2, 1, 0]
    out = ref.generate(model, start, max_new_tokens=5, temperature=0.7)
    assert start == [5, 4, 3, 2, 1, 0], "start_ids unchanged"
    assert out[:6] == start and len(out) == 11
    assert all(isinstance(t, int) and 0 <= t < 6 for t in out)
    assert model.contexts == [out[: 6 + k][-4:] for k in range(5)]
    assert ref.generate(model, [1], 0) == [1]


class FixedLogits(Module):
    """A stand-in model whose last row of logits is always `last`."""

    def __init__(self, last: list[float], max_seq_len: int = 3) -> None:
        self.last = last
        self.max_seq_len = max_seq_len

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        decoy = [Value(50.0 if j == 0 else 0.0) for j in range(len(self.last))]
        return [decoy] * (len(token_ids) - 1) + [[Value(z) for z in self.last]]


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_generate_samples_softmax_of_scaled_last_logits(temperature: float) -> None:
    logits = [1.0, 0.0, -1.0, 0.5]
    random.seed(7)
    n = 4000
    out = ref.generate(FixedLogits(logits), [0, 1, 2], n, temperature=temperature)
    counts = Counter(out[3:])
    weights = [math.exp(z / temperature) for z in logits]
    for token, w in enumerate(weights):
        expected = w / sum(weights)
        assert abs(counts[token] / n - expected) < 0.03, (token, counts, expected)


def test_generate_handles_huge_logits_and_bad_arguments() -> None:
    out = ref.generate(FixedLogits([1000.0, -1000.0, 999.0]), [0], 50, temperature=0.01)
    assert set(out[1:]) == {0}
    with pytest.raises(ValueError):
        ref.generate(FixedLogits([0.0]), [0], 1, temperature=0.0)


# --------------------------------------------------------------------------
# the benchmark's baseline computes what the reference computes


def test_benchmark_baseline_matches_the_reference() -> None:
    bench = pack_paths.import_path("bench_engine", pack_paths.BENCHMARK_PATH)
    random.seed(5)
    model = ref.MiniGPT(5, 4, 2, 2, 4)
    baseline = bench.BaselineGPT(5, 4, 2, 4)
    baseline.copy_weights_from(model)
    x, y = [0, 3, 1, 4], [3, 1, 4, 2]
    loss = ref.cross_entropy_loss(model(x), y)
    base_loss = bench.baseline_loss(baseline(x), y)
    assert math.isclose(loss.data, base_loss.data, rel_tol=1e-12)
    model.zero_grad()
    loss.backward()
    base_loss.backward()
    for p, q in zip(model.parameters(), baseline.parameters(), strict=True):
        assert math.isclose(p.grad, q.grad, rel_tol=1e-9, abs_tol=1e-12)
