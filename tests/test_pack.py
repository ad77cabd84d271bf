"""The exercise pack as a whole: reference solution, skeleton, public tests, train.py.

The reference must pass the public tests and behave as the problem statement
says; the untouched skeleton must fail every public test with a one-line
"not implemented yet" message; the pack must run on the oldest Python its
README promises and say so clearly on an older one; train.py must train,
refuse bad options in one line and stop with advice when the loss explodes.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import math
import random
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pack_paths
import pytest
from engine import Value
from kit_support import copy_pack, student_env
from nn import Module

from grader.policy import ALLOWED_MODULES
from grader.worker.main import CLASSES, FUNCTIONS

ref = pack_paths.import_reference()

PUBLIC_API = [*CLASSES, *FUNCTIONS]


# --------------------------------------------------------------------------
# helpers


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
    assert {str(c.get("name")).split("[")[0] for c in cases} == public_test_names()
    assert all(len(c) == 0 for c in cases), "no failure, error, skip or 'not judged'"


def test_skeleton_fails_every_public_test_cleanly(tmp_path: Path) -> None:
    proc, cases = run_public_tests(copy_pack(tmp_path))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert {str(c.get("name")).split("[")[0] for c in cases} == public_test_names()
    for case in cases:
        failures = case.findall("failure")
        outcomes = [e for e in case if e.tag in ("failure", "error", "skipped")]
        assert len(failures) == 1 and len(outcomes) == 1, f"{case.get('name')} must fail"
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


def test_skeleton_text_names_only_what_it_imports_or_defines() -> None:
    """Every module, class or call its docstrings and messages name exists in the file."""
    skeleton = pack_paths.import_skeleton()
    bound = set(vars(skeleton)) | set(dir(builtins))
    tree = ast.parse(pack_paths.SKELETON_PATH.read_text(encoding="utf-8"))
    text = "\n".join(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    )
    modules = {m for m in ALLOWED_MODULES if m != "__future__"}
    named = {
        root
        for root, attr in re.findall(r"\b([A-Za-z_]\w*)\.(\w+)", text)
        if (root in modules or root[0].isupper()) and attr not in {"py", "md", "txt"}
    }
    named |= set(re.findall(r"\b([A-Z]\w*)\(", text))  # Linear(D, D), Value(...)
    assert {"Value", "Linear", "math", "random"} <= named, named
    assert named <= bound, f"named but neither imported nor defined: {sorted(named - bound)}"


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


def run_train(pack: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "train.py", *flags],
        cwd=pack,
        env=student_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def reference_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_pack(tmp_path_factory.mktemp("reference"), pack_paths.REFERENCE_PATH)


def test_train_script_lowers_the_loss_and_says_what_it_does(reference_pack: Path) -> None:
    proc = run_train(
        reference_pack, "--steps", "40", "--print-every", "20", "--sample-length", "25"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    step_lines = [line for line in lines if line.startswith("step")]
    losses = [float(line.split()[3]) for line in step_lines]
    assert len(losses) == 3, proc.stdout  # steps 1, 20, 40
    assert losses[-1] < 0.8 * losses[0], proc.stdout
    assert "s left)" in step_lines[0] and "left" not in step_lines[-1], "time so far, time left"
    announce = next(i for i, line in enumerate(lines) if line.startswith("sampling 25 characters"))
    assert "temperature 0.8" in lines[announce] and "about" in lines[announce], lines[announce]
    assert lines.index(step_lines[-1]) < announce, "announced after training, before sampling"
    assert lines[announce + 1].startswith("sample ("), proc.stdout
    sample = "\n".join(lines[announce + 2 :])
    assert len(sample) == 26, "the prompt character plus 25 generated ones"


def test_train_script_on_the_skeleton_explains(tmp_path: Path) -> None:
    proc = run_train(copy_pack(tmp_path), "--steps", "1")
    assert proc.returncode == 1
    assert "not finished yet" in proc.stderr and "Traceback" not in proc.stderr


BAD_OPTIONS = {
    "--steps 0": "argument --steps: must be a whole number of at least 1, got 0",
    "--steps ten": "argument --steps: must be a whole number, got 'ten'",
    "--layers 1.5": "argument --layers: must be a whole number, got '1.5'",
    "--batch-size -2": "argument --batch-size: must be a whole number of at least 1",
    "--print-every 0": "argument --print-every: must be a whole number of at least 1",
    "--sample-length -1": "argument --sample-length: must be a whole number of at least 0",
    "--lr 0": "argument --lr: must be a number greater than 0, got 0",
    "--lr nan": "argument --lr: must be a number greater than 0, got nan",
    "--temperature -1": "argument --temperature: must be a number greater than 0",
    "--temperature hot": "argument --temperature: must be a number, got 'hot'",
    "--block-size 1000": "argument --block-size: 1000 needs a text of at least 1001 characters",
    "--data missing.txt": "argument --data: cannot read missing.txt as UTF-8 text",
    "--data binary.bin": "argument --data: cannot read binary.bin as UTF-8 text",
}


@pytest.mark.parametrize("flags", sorted(BAD_OPTIONS))
def test_train_script_refuses_bad_options_in_one_line(reference_pack: Path, flags: str) -> None:
    (reference_pack / "binary.bin").write_bytes(b"\xff\xfe\x00 not text")
    proc = run_train(reference_pack, *flags.split())
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("train.py: error: " + BAD_OPTIONS[flags]), proc.stderr
    assert "Traceback" not in proc.stderr


# How a model (the reference, with its loss changed) makes training blow up.
DIVERGING = {
    "exploding loss": ("loss", ["--lr", "1000"], "the loss exploded to"),
    "nan loss": ("loss * float('nan')", [], "the loss became nan"),
    "overflow": ("(loss * 1000.0).exp()", [], "a number overflowed (exp("),
    "infinite gradients": (
        "loss + (loss - loss.data) ** 0.5",  # sqrt at 0: an infinite slope
        [],
        "some gradients became infinite or NaN",
    ),
}


@pytest.mark.parametrize("case", sorted(DIVERGING))
def test_train_script_stops_with_advice_when_training_blows_up(tmp_path: Path, case: str) -> None:
    expression, flags, message = DIVERGING[case]
    pack = copy_pack(tmp_path)
    shutil.copyfile(pack_paths.REFERENCE_PATH, pack / "reference_solution.py")
    (pack / "minigpt.py").write_text(
        "from reference_solution import MiniGPT, generate\n"
        "from reference_solution import cross_entropy_loss as reference_loss\n\n\n"
        "def cross_entropy_loss(logits, targets):\n"
        "    loss = reference_loss(logits, targets)\n"
        f"    return {expression}\n",
        encoding="utf-8",
    )
    proc = run_train(pack, "--lr", "0.3", *flags)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "training stopped at step" in proc.stderr and message in proc.stderr, proc.stderr
    assert "try a smaller one" in proc.stderr and "--lr" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "sampl" not in proc.stdout


# --------------------------------------------------------------------------
# the oldest Python the pack supports


def oldest_python(path: Path) -> tuple[int, int]:
    """The OLDEST_PYTHON = (major, minor) a pack file checks for."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "OLDEST_PYTHON":
            major, minor = ast.literal_eval(node.value)
            return major, minor
    raise AssertionError(f"{path.name} does not set OLDEST_PYTHON")


OLDEST = oldest_python(pack_paths.TEMPLATE_DIR / "conftest.py")


def test_the_pack_agrees_on_its_oldest_python() -> None:
    assert oldest_python(pack_paths.TEMPLATE_DIR / "train.py") == OLDEST
    readme = (pack_paths.TEMPLATE_DIR / "README.md").read_text(encoding="utf-8")
    assert f"Python {OLDEST[0]}.{OLDEST[1]} or newer" in readme


def test_the_pack_needs_nothing_newer_than_its_oldest_python() -> None:
    """vermin finds the oldest Python each construct and library call needs."""
    files = sorted(
        str(path)
        for path in pack_paths.TEMPLATE_DIR.rglob("*.py")
        if "__pycache__" not in path.parts
    )
    assert len(files) >= 9, files  # engine, nn, skeleton, conftest, train.py, the tests
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, vermin; sys.exit(vermin.main())",  # vermin has no __main__
            f"--target={OLDEST[0]}.{OLDEST[1]}-",
            "--violations",
            "--no-tips",
            "--eval-annotations",
            *files,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


PRETEND_OLD = {
    "python": (
        "import sys\nsys.version_info = (3, 8, 18, 'final', 0)\n",
        "the Mini-GPT pack needs Python 3.9 or newer, and this is Python 3.8",
    ),
    "pytest": (
        "import pytest\npytest.__version__ = '7.4.4'\n",
        "the public tests need pytest 8 or newer, and this is pytest 7.4.4",
    ),
}


@pytest.mark.parametrize("what", sorted(PRETEND_OLD))
def test_public_tests_stop_at_once_on_a_too_old_version(tmp_path: Path, what: str) -> None:
    code, message = PRETEND_OLD[what]
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "pretend_old.py").write_text(code, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "pretend_old"],
        cwd=copy_pack(tmp_path, pack_paths.REFERENCE_PATH),
        env={**student_env(), "PYTHONPATH": str(plugins)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 4, output
    assert f"Exit: {message}" in output
    assert "Traceback" not in output and "passed" not in output and "failed" not in output


def test_train_script_stops_at_once_on_a_too_old_python(reference_pack: Path) -> None:
    pretend = "import runpy, sys\nsys.version_info = (3, 8, 18, 'final', 0)\n"
    pretend += "runpy.run_path('train.py', run_name='__main__')\n"
    proc = subprocess.run(
        [sys.executable, "-c", pretend],
        cwd=reference_pack,
        env=student_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("train.py needs Python 3.9 or newer"), proc.stderr
    assert proc.stdout == ""


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
