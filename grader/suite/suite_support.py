"""Shared configurations and numeric helpers for the hidden suite."""

from __future__ import annotations

import math
import random
from typing import Any

from grader.judge.failures import expect
from grader.judge.subjects import Subject

__all__ = [
    "MODEL",
    "attention_outputs",
    "chi_square",
    "expect",
    "fmt",
    "max_abs_diff",
    "random_rows",
    "rows_equal",
    "shape_text",
    "softmax",
]

# A small model: correct solutions answer in milliseconds, naive ones in well under a second.
MODEL: dict[str, Any] = {
    "vocab_size": 7,
    "embed_dim": 8,
    "num_heads": 2,
    "num_layers": 2,
    "max_seq_len": 6,
}

# chi-square critical value for 4 degrees of freedom at p = 1e-7: a correct
# sampler fails this about once in ten million seeds, a wrong one every time.
CHI2_CRITICAL_DF4 = 36.0


def attention_outputs(
    student: Subject, inputs: list[list[list[float]]], causal: bool = True
) -> list[list[list[float]]]:
    """SelfAttention(4) on each input (one model, same weights): the output rows."""
    result = student.run(
        "run_module",
        component="SelfAttention",
        args=[4],
        inputs=inputs,
        forward_kwargs={"causal": causal},
    )
    return [out["data"] for out in result["outputs"]]


def random_rows(t: int, d: int, seed: int, scale: float = 1.5) -> list[list[float]]:
    """A (t, d) input of uniform floats in [-scale, scale], the same for a given seed."""
    rng = random.Random(seed)
    return [[rng.uniform(-scale, scale) for _ in range(d)] for _ in range(t)]


def flatten(data: Any) -> list[float]:
    if isinstance(data, list):
        return [x for item in data for x in flatten(item)]
    return [float(data)]


def max_abs_diff(a: Any, b: Any) -> float:
    fa, fb = flatten(a), flatten(b)
    if len(fa) != len(fb):
        return math.inf
    return max((abs(x - y) for x, y in zip(fa, fb, strict=True)), default=0.0)


def close(a: Any, b: Any, rel: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    fa, fb = flatten(a), flatten(b)
    return len(fa) == len(fb) and all(
        math.isclose(x, y, rel_tol=rel, abs_tol=abs_tol) for x, y in zip(fa, fb, strict=True)
    )


def rows_equal(a: list[float], b: list[float], tol: float = 1e-9) -> bool:
    return max_abs_diff(a, b) <= tol * (1.0 + max((abs(x) for x in flatten(a)), default=0.0))


def shape_text(shape: list[int]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def fmt(values: Any, limit: int = 4) -> str:
    flat = flatten(values)
    shown = ", ".join(f"{x:.4g}" for x in flat[:limit])
    return f"[{shown}{', ...' if len(flat) > limit else ''}]"


def softmax(logits: list[float], temperature: float = 1.0) -> list[float]:
    scaled = [z / temperature for z in logits]
    peak = max(scaled)
    exps = [math.exp(z - peak) for z in scaled]
    total = sum(exps)
    return [e / total for e in exps]


def chi_square(samples: list[int], probs: list[float]) -> float:
    """Pearson's statistic of ``samples`` against ``probs`` (inf if a sample is impossible)."""
    n = len(samples)
    counts = [0] * len(probs)
    for s in samples:
        counts[s] += 1
    stat = 0.0
    for count, p in zip(counts, probs, strict=True):
        expected = n * p
        if expected < 1e-9:
            if count:
                return math.inf
            continue
        stat += (count - expected) ** 2 / expected
    return stat


def frequencies(samples: list[int], size: int) -> list[float]:
    counts = [0] * size
    for s in samples:
        counts[s] += 1
    return [c / max(len(samples), 1) for c in counts]
