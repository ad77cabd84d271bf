"""Numerical checks of a candidate correct solution, independent of the grader's suite.

Usage (from the repository root)::

    PYTHONPATH=student_template .venv/bin/python tests/solutions/check_correct.py FILE...
    ... check_correct.py --only generate,positions FILE...   (a subset of the checks)

Each FILE is loaded as the module ``minigpt`` and checked against the rules of
the statement only (never against one implementation's attribute names): shapes,
LayerNorm against its formula, gradients against central finite differences,
the causal mask, the residual identity, the loss and its gradient, generate
(length, cropping, sampling frequencies, temperature), a short SGD run and the
length limit. It prints one line per check and exits 1 if any check failed.
"""

from __future__ import annotations

import importlib.util
import math
import random
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from engine import Value
from nn import Module

REPO = Path(__file__).resolve().parents[2]


class CheckFailed(AssertionError):
    pass


def ensure(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("minigpt", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["minigpt"] = module
    spec.loader.exec_module(module)
    return module


def vec(numbers: list[float]) -> list[Value]:
    return [Value(x) for x in numbers]


def rand_seq(t: int, d: int) -> list[list[Value]]:
    return [[Value(random.uniform(-1.0, 1.0)) for _ in range(d)] for _ in range(t)]


def data(rows: list[list[Value]]) -> list[list[float]]:
    return [[v.data for v in row] for row in rows]


def max_diff(a: list[list[float]], b: list[list[float]]) -> float:
    return max(abs(x - y) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True))


def logsumexp(zs: list[float]) -> float:
    m = max(zs)
    return m + math.log(sum(math.exp(z - m) for z in zs))


def softmax(zs: list[float]) -> list[float]:
    m = max(zs)
    e = [math.exp(z - m) for z in zs]
    s = sum(e)
    return [x / s for x in e]


# --------------------------------------------------------------------------- checks


def check_policy(path: Path, m: ModuleType) -> str:
    sys.path.insert(0, str(REPO))
    try:
        from grader.policy import check_source
    except ImportError:
        return "skipped (grader not importable)"
    finally:
        sys.path.remove(str(REPO))
    error = check_source(path.read_bytes(), pack_dir=REPO / "student_template")
    ensure(error is None, f"policy refuses the file: {error}")
    return "accepted"


def check_shapes(path: Path, m: ModuleType) -> str:
    emb = m.Embedding(10, 4)
    rows = emb([3, 1, 3])
    ensure(len(rows) == 3 and all(len(r) == 4 for r in rows), "Embedding shape")
    ensure(all(isinstance(v, Value) for r in rows for v in r), "Embedding returns Values")
    params = emb.parameters()
    ensure(len(params) == 40, f"Embedding has {len(params)} parameters, expected 40")
    ids = {id(p) for p in params}
    ensure(all(id(v) in ids for r in rows for v in r), "Embedding must return its own Values")
    ensure([v.data for v in rows[0]] == [v.data for v in rows[2]], "same index, same row")

    ln = m.LayerNorm(5)
    ensure(len(ln(vec([1, 2, 3, 4, 9]))) == 5, "LayerNorm shape")
    for d, hidden in ((6, None), (6, 3), (4, 10)):
        ff = m.FeedForward(d) if hidden is None else m.FeedForward(d, hidden)
        out = ff(vec([random.uniform(-1, 1) for _ in range(d)]))
        ensure(len(out) == d, "FeedForward shape")
        h = 4 * d if hidden is None else hidden
        n = len(ff.parameters())
        ensure(
            n in {2 * d * h, 2 * d * h + h, 2 * d * h + d, 2 * d * h + h + d},
            f"FeedForward({d}, {hidden}) has {n} parameters: hidden size is not {h}",
        )
    attn = m.SelfAttention(4)
    out = attn(rand_seq(5, 4))
    ensure(len(out) == 5 and all(len(r) == 4 for r in out), "SelfAttention shape")
    out = attn(rand_seq(3, 4), causal=False)
    ensure(len(out) == 3 and all(len(r) == 4 for r in out), "SelfAttention causal=False shape")
    block = m.TransformerBlock(4, 2)
    out = block(rand_seq(3, 4))
    ensure(len(out) == 3 and all(len(r) == 4 for r in out), "TransformerBlock shape")
    model = m.MiniGPT(vocab_size=7, embed_dim=8, num_heads=2, num_layers=2, max_seq_len=6)
    ensure(model.vocab_size == 7 and model.max_seq_len == 6, "vocab_size / max_seq_len attributes")
    for t in range(1, 7):
        logits = model([random.randrange(7) for _ in range(t)])
        ensure(len(logits) == t and all(len(r) == 7 for r in logits), f"logits shape at T={t}")
        ensure(all(isinstance(v, Value) for r in logits for v in r), "logits are Values")
    try:
        no_blocks = "works" if len(m.MiniGPT(5, 4, 1, 0, 3)([0, 1])) == 2 else "bad shape"
    except Exception as exc:
        no_blocks = f"raises {type(exc).__name__}"
    return f"ok (num_layers=0 {no_blocks})"


def check_layernorm(path: Path, m: ModuleType) -> str:
    def expected(x: list[float], eps: float) -> list[float]:
        mu = sum(x) / len(x)
        var = sum((v - mu) ** 2 for v in x) / len(x)
        return [(v - mu) / math.sqrt(var + eps) for v in x]

    cases = [
        ([1.0, 2.0, 3.0, 6.0], 1e-5),
        ([random.gauss(0, 3) for _ in range(7)], 1e-5),
        ([1.0, 1.001, 0.999, 1.0005], 1e-5),  # tiny variance: shows where eps goes
        ([0.0, 0.1, -0.2, 0.3, 0.05], 0.5),  # a custom eps
        ([2.0, 2.0, 2.0], 1e-5),  # constant input: 0, not a division by zero
    ]
    worst = 0.0
    for x, eps in cases:
        ln = m.LayerNorm(len(x)) if eps == 1e-5 else m.LayerNorm(len(x), eps=eps)
        got = [v.data for v in ln(vec(x))]
        want = expected(x, eps)
        err = max(abs(a - b) for a, b in zip(got, want, strict=True))
        worst = max(worst, err)
        ensure(err < 1e-7, f"LayerNorm({len(x)}, eps={eps}) on {x}: got {got}, want {want}")
    n = len(m.LayerNorm(4).parameters())
    # none, a gain or a bias (4), or both (8): any legal norm
    ensure(n in (0, 4, 8), f"LayerNorm(4) has {n} parameters (expected 0, 4 or 8)")
    # gradient of LayerNorm alone, against finite differences
    x = [random.gauss(0, 1) for _ in range(5)]
    w = [random.gauss(0, 1) for _ in range(5)]
    ln = m.LayerNorm(5)
    xs = vec(x)
    out = Value.dot(ln(xs), w)
    out.backward()
    for i in range(5):
        h = 1e-6
        xp = list(x)
        xp[i] += h
        xm = list(x)
        xm[i] -= h
        fd = (Value.dot(ln(vec(xp)), w).data - Value.dot(ln(vec(xm)), w).data) / (2 * h)
        ensure(abs(fd - xs[i].grad) < 1e-5 * (1 + abs(fd)), f"LayerNorm grad {xs[i].grad} vs {fd}")
    return f"{n} parameters, max error {worst:.1e}"


def check_parameters(path: Path, m: ModuleType) -> str:
    model = m.MiniGPT(6, 4, 2, 2, 5)
    params = model.parameters()
    ensure(all(isinstance(p, Value) for p in params), "parameters() holds Values")
    ensure(len({id(p) for p in params}) == len(params), "a parameter is listed twice")
    ensure(all(not p._children for p in params), "a parameter is not a leaf")
    ids = [0, 1, 2, 3, 4]
    loss = m.cross_entropy_loss(model(ids), [1, 2, 3, 4, 5])
    model.zero_grad()
    loss.backward()
    nonzero = sum(1 for p in params if p.grad != 0.0)
    ensure(all(math.isfinite(p.grad) for p in params), "non-finite gradient")
    ensure(nonzero > len(params) // 2, f"only {nonzero}/{len(params)} parameters get a gradient")
    # parameters() of the whole model covers those of every part built the same way
    return f"{len(params)} parameters, {nonzero} with a gradient"


def _loss_of(m: ModuleType, model: Any, ids: list[int], targets: list[int]) -> float:
    return float(m.cross_entropy_loss(model(ids), targets).data)


def check_gradients(path: Path, m: ModuleType) -> str:
    """Analytic gradients against central differences, skipping parameters at a kink.

    A parameter is "at a kink" (a ReLU input, or the argmax of a softmax shift,
    crossing over within the step) when the forward and backward one-sided
    differences disagree with each other: there the function is not smooth and
    no single derivative exists. Everywhere else all three must agree.
    """
    checked = skipped = 0
    worst = 0.0
    for seed, (v, d, layers, t) in enumerate(((5, 4, 2, 4), (4, 8, 1, 3))):
        random.seed(100 + seed)
        model = m.MiniGPT(v, d, 2, layers, t + 1)
        ids = [random.randrange(v) for _ in range(t)]
        targets = [random.randrange(v) for _ in range(t)]
        params = model.parameters()
        loss = m.cross_entropy_loss(model(ids), targets)
        model.zero_grad()
        loss.backward()
        grads = [p.grad for p in params]
        base = loss.data
        h = 1e-5
        scale = max(1e-3, max(abs(g) for g in grads))
        for p, g in zip(params, grads, strict=True):
            old = p.data
            p.data = old + h
            up = _loss_of(m, model, ids, targets)
            p.data = old - h
            down = _loss_of(m, model, ids, targets)
            p.data = old
            fd = (up - down) / (2 * h)
            err = abs(fd - g)
            tol = 1e-6 + 1e-4 * max(abs(fd), abs(g), 1e-2 * scale)
            if err <= tol:
                checked += 1
                worst = max(worst, err)
                continue
            right, left = (up - base) / h, (base - down) / h
            if abs(right - left) > 1e-3 * (1 + abs(right) + abs(left)):
                skipped += 1  # a kink lies within h of this point
                continue
            raise CheckFailed(f"gradient {g} but central difference {fd} (err {err:.2e})")
    ensure(skipped <= checked // 20, f"{skipped} parameters at a kink: too many to trust")
    return f"{checked} agree (max err {worst:.1e}), {skipped} skipped at a kink"


def check_causal(path: Path, m: ModuleType) -> str:
    attn = m.SelfAttention(4)
    x = rand_seq(5, 4)
    before = data(attn(x))
    for t in range(4):
        changed = [row[:] for row in x]
        for j in range(t + 1, 5):
            changed[j] = [Value(random.uniform(-3, 3)) for _ in range(4)]
        after = data(attn(changed))
        ensure(max_diff(before[: t + 1], after[: t + 1]) < 1e-12, f"attention leaks after {t}")
        ensure(max_diff(before[t + 1 :], after[t + 1 :]) > 1e-6, "later outputs should move")
    open_before = data(attn(x, causal=False))
    changed = [row[:] for row in x]
    changed[4] = [Value(5.0), Value(-5.0), Value(2.0), Value(0.5)]
    ensure(
        max_diff(open_before[:1], data(attn(changed, causal=False))[:1]) > 1e-6,
        "causal=False must let position 0 see position 4",
    )
    model = m.MiniGPT(6, 8, 2, 2, 6)
    ids = [random.randrange(6) for _ in range(6)]
    base = data(model(ids))
    for t in range(5):
        other = ids[: t + 1] + [(i + 1 + random.randrange(5)) % 6 for i in ids[t + 1 :]]
        got = data(model(other))
        ensure(max_diff(base[: t + 1], got[: t + 1]) < 1e-12, f"model logits leak after {t}")
    # shorter prefixes give the same logits as the full sequence
    for t in range(1, 6):
        ensure(max_diff(base[:t], data(model(ids[:t]))) < 1e-12, "prefix logits differ")
    return "ok"


def check_block_identity(path: Path, m: ModuleType) -> str:
    block = m.TransformerBlock(4, 2)
    for p in block.parameters():
        p.data = 0.0
    x = rand_seq(4, 4)
    ensure(max_diff(data(x), data(block(x))) < 1e-12, "zeroed block is not the identity")
    attn = m.SelfAttention(4)
    row = [random.uniform(-1, 1) for _ in range(4)]
    out = data(attn([vec(row) for _ in range(4)]))
    ensure(max_diff(out, [out[0]] * 4) < 1e-12, "identical rows in, different rows out")
    out = data(attn([vec(row) for _ in range(4)], causal=False))
    ensure(max_diff(out, [out[0]] * 4) < 1e-12, "identical rows in, different rows out")
    return "ok"


def randomize(module: Any, std: float = 0.5) -> None:
    for p in module.parameters():
        p.data = random.gauss(0.0, std)


def check_positions(path: Path, m: ModuleType) -> str:
    model = m.MiniGPT(5, 8, 2, 1, 6)
    same_at_init = max_diff(data(model([2] * 6)), [data(model([2]))[0]] * 6) < 1e-12
    randomize(model)
    out = data(model([2] * 6))
    ensure(max_diff(out, [out[0]] * 6) > 1e-6, "identical tokens give identical logits")
    note = " (identical logits at init: zero position table)" if same_at_init else ""
    return "ok" + note


def check_nonlinear(path: Path, m: ModuleType) -> str:
    ff = m.FeedForward(4)
    randomize(ff)
    zero = [v.data for v in ff(vec([0.0] * 4))]
    gap = 0.0
    for _ in range(5):
        a = [random.gauss(0, 1) for _ in range(4)]
        b = [random.gauss(0, 1) for _ in range(4)]
        fa, fb = ff(vec(a)), ff(vec(b))
        fab = ff(vec([x + y for x, y in zip(a, b, strict=True)]))
        for i in range(4):
            gap = max(gap, abs(fab[i].data - fa[i].data - fb[i].data + zero[i]))
    ensure(gap > 1e-6, "FeedForward is affine: no activation?")
    return "ok"


def check_loss(path: Path, m: ModuleType) -> str:
    for t, v in ((1, 3), (4, 6), (3, 2)):
        z = [[random.gauss(0, 3) for _ in range(v)] for _ in range(t)]
        y = [random.randrange(v) for _ in range(t)]
        zs = [vec(r) for r in z]
        loss = m.cross_entropy_loss(zs, y)
        ensure(isinstance(loss, Value), "the loss is a Value")
        want = sum(logsumexp(r) - r[k] for r, k in zip(z, y, strict=True)) / t
        ensure(abs(loss.data - want) < 1e-10, f"loss {loss.data} vs {want}")
        loss.backward()
        for r, k, row in zip(z, y, zs, strict=True):
            p = softmax(r)
            for c in range(v):
                g = (p[c] - (1.0 if c == k else 0.0)) / t
                ensure(abs(row[c].grad - g) < 1e-10, f"loss grad {row[c].grad} vs {g}")
    big = [[Value(1000.0), Value(0.0), Value(-1000.0)], [Value(-800.0), Value(-800.0), Value(0)]]
    loss = m.cross_entropy_loss(big, [1, 0])
    ensure(abs(loss.data - (1000.0 + 800.0) / 2) < 1e-6, f"extreme logits: {loss.data}")
    loss.backward()
    ensure(all(math.isfinite(v.grad) for r in big for v in r), "extreme logits: grad not finite")
    try:
        m.cross_entropy_loss([vec([0.0, 1.0])], [0, 1])
    except Exception as exc:
        mismatch = type(exc).__name__
    else:
        mismatch = "accepted"
    return f"ok (mismatched lengths: {mismatch})"


class StandIn(Module):
    """A fake model: fixed last-position logits, records every context it is given."""

    def __init__(self, logits: list[float], max_seq_len: int) -> None:
        self.logits = list(logits)
        self.vocab_size = len(logits)
        self.max_seq_len = max_seq_len
        self.seen: list[list[int]] = []

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        ids = list(token_ids)
        self.seen.append(ids)
        if not 1 <= len(ids) <= self.max_seq_len:
            raise ValueError(f"stand-in given {len(ids)} tokens")
        # earlier positions get other logits (the reversed row, shifted): only the last counts
        decoy = [z + 3.0 * i for i, z in enumerate(reversed(self.logits))]
        rows = [[Value(z) for z in decoy] for _ in range(len(ids) - 1)]
        return [*rows, [Value(z) for z in self.logits]]


def check_generate(path: Path, m: ModuleType) -> str:
    start = [0, 1, 2, 3, 0, 1, 2]
    fake = StandIn([0.5, -0.3, 1.2, 0.0], max_seq_len=3)
    out = m.generate(fake, start, 10)
    ensure(start == [0, 1, 2, 3, 0, 1, 2], "start_ids modified")
    ensure(out is not start and len(out) == 17 and out[:7] == start, "start + new tokens")
    ensure(all(type(t) is int and 0 <= t < 4 for t in out), f"ids not ints in range: {out}")
    ensure(len(fake.seen) == 10, f"model called {len(fake.seen)} times for 10 tokens")
    for step, ctx in enumerate(fake.seen):
        ensure(ctx == out[: 7 + step][-3:], f"step {step}: context {ctx}, expected last 3 tokens")
    short = StandIn([0.0, 0.0], max_seq_len=8)
    out = m.generate(short, [1], 3)
    ensure([len(c) for c in short.seen] == [1, 2, 3], "short prompts must not be padded")
    ensure(m.generate(StandIn([0.0], 4), [0], 0) == [0], "max_new_tokens=0")
    # sampling frequencies follow softmax(logits / T)
    logits = [1.0, 0.0, -1.0, 2.0, 0.3]
    n = 4000
    worst = 0.0
    for temp in (1.0, 0.5, 2.0, 0.05):
        random.seed(7)
        fake = StandIn(logits, max_seq_len=2)
        out = m.generate(fake, [0], n, temperature=temp)[1:]
        p = softmax([z / temp for z in logits])
        for c in range(5):
            freq = out.count(c) / n
            sd = math.sqrt(p[c] * (1 - p[c]) / n)
            ensure(abs(freq - p[c]) < 5 * sd + 2e-3, f"T={temp}: freq {freq:.3f} vs p {p[c]:.3f}")
            worst = max(worst, abs(freq - p[c]) / (sd + 1e-12))
    # huge logits / tiny temperature: a stable softmax picks the argmax
    out = m.generate(StandIn([1000.0, -1000.0, 999.0], 2), [0], 20, temperature=0.01)
    ensure(out[1:] == [0] * 20, f"stable softmax with huge logits: {out}")
    # the real model, prompt longer than the context
    model = m.MiniGPT(5, 8, 2, 1, 4)
    out = m.generate(model, [0, 1, 2, 3, 4, 0], 5, temperature=0.7)
    ensure(len(out) == 11 and all(0 <= t < 5 for t in out), "generate with the real model")
    return f"ok (worst frequency deviation {worst:.1f} sd)"


def check_training(path: Path, m: ModuleType) -> str:
    text = "hello world"
    chars = sorted(set(text))
    enc = [chars.index(c) for c in text]
    x, y = enc[:8], enc[1:9]
    report = []
    for lr in (0.1, 0.3, 0.5):
        for seed in (0, 1):
            random.seed(seed)
            model = m.MiniGPT(len(chars), 16, 2, 2, 8)
            params = model.parameters()
            first = last = 0.0
            for step in range(40):
                loss = m.cross_entropy_loss(model(x), y)
                if step == 0:
                    first = loss.data
                last = loss.data
                for p in params:
                    p.grad = 0.0
                loss.backward()
                for p in params:
                    p.data -= lr * p.grad
            final = m.cross_entropy_loss(model(x), y).data
            last = final
            ensure(
                math.isfinite(last) and last < 0.8 * first,
                f"lr={lr} seed={seed}: loss {first:.3f} -> {last:.3f}",
            )
            report.append(f"{first:.2f}->{last:.2f}")
    return "lr 0.1/0.3/0.5: " + " ".join(report)


def check_length(path: Path, m: ModuleType) -> str:
    model = m.MiniGPT(5, 4, 1, 1, 4)
    ensure(len(model([1, 2, 3, 4])) == 4, "T == max_seq_len must work")
    try:
        model([1, 2, 3, 4, 0])
    except Exception as exc:
        return f"T > max_seq_len raises {type(exc).__name__}"
    raise CheckFailed("T > max_seq_len is accepted")


CHECKS: list[tuple[str, Callable[[Path, ModuleType], str]]] = [
    ("policy", check_policy),
    ("shapes", check_shapes),
    ("layernorm", check_layernorm),
    ("parameters", check_parameters),
    ("gradients", check_gradients),
    ("causal", check_causal),
    ("block identity", check_block_identity),
    ("positions", check_positions),
    ("nonlinear", check_nonlinear),
    ("loss", check_loss),
    ("generate", check_generate),
    ("training", check_training),
    ("length", check_length),
]


def main(argv: list[str]) -> int:
    only: set[str] | None = None
    if argv[:1] == ["--only"]:
        only = set(argv[1].split(","))
        argv = argv[2:]
    failures = 0
    for name in argv:
        path = Path(name).resolve()
        print(f"== {path.name}")
        module = load(path)
        for check_name, check in CHECKS:
            if only is not None and check_name not in only:
                continue
            random.seed(1234)
            started = time.perf_counter()
            try:
                detail = check(path, module)
            except Exception as exc:
                failures += 1
                tb = traceback.extract_tb(exc.__traceback__)[-1]
                print(
                    f"  FAIL {check_name}: {type(exc).__name__}: {exc} "
                    f"({Path(tb.filename).name}:{tb.lineno})"
                )
            else:
                print(f"  ok   {check_name} ({time.perf_counter() - started:.1f}s): {detail}")
    print("ALL OK" if failures == 0 else f"{failures} FAILURE(S)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
