"""Shared configurations and the judge's own numerics for the hidden suite.

Every expected value is computed here, in the judge, from the formula the
exercise states; the student's process only ever reports what its objects
did. Comparisons are written so that NaN never passes (``a <= b`` is False
for NaN, so "close" checks fail; "differ" checks use :func:`differ`, which
is False for NaN as well).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from grader.judge.failures import expect
from grader.judge.remote import Remote, Student

__all__ = [
    "CHI2_CRITICAL",
    "MODEL",
    "SMALL",
    "apart",
    "build",
    "chi_square",
    "close",
    "cross_entropy",
    "differ",
    "expect",
    "flatten",
    "fmt",
    "fresh",
    "informative",
    "max_abs_diff",
    "randomize",
    "repeatable",
    "rows",
    "same",
    "shape_text",
    "softmax",
]

# A small model: correct solutions answer in milliseconds, naive ones in well under a second.
MODEL: dict[str, int] = {
    "vocab_size": 7,
    "embed_dim": 8,
    "num_heads": 2,
    "num_layers": 2,
    "max_seq_len": 6,
}
# A smaller one, for properties any size shows (a forward costs a quarter of MODEL's).
SMALL: dict[str, int] = {
    "vocab_size": 5,
    "embed_dim": 4,
    "num_heads": 2,
    "num_layers": 2,
    "max_seq_len": 4,
}

# chi-square critical values at p = 1e-8, by degrees of freedom: a correct sampler
# fails one such test about once in a hundred million gradings (the approximation is
# good here: every expected count is above 100), a wrong one every time.
CHI2_CRITICAL = {4: 43.07, 7: 50.81}


def build(student: Student, rng: random.Random, cls: str, *args: Any, **kwargs: Any) -> Remote:
    """The student's ``cls(*args, **kwargs)``, initialised from a seed this grading chose."""
    return student.build(cls, *args, seed=rng.randrange(2**31), **kwargs)


def fresh(student: Student) -> None:
    """Start the next object in a new worker forked from the just-imported state."""
    student.fresh_worker()


def model(student: Student, rng: random.Random, config: dict[str, int] = MODEL) -> Remote:
    return student.model(config, seed=rng.randrange(2**31))


def randomize(remote: Remote, rng: random.Random, scale: float = 1.0) -> list[float]:
    """Set every parameter to a fresh N(0, scale) draw, so a check holds for ANY weights.

    A property that every correct model has whatever its weights does not
    depend on how the student initialised them (zeros, N(0, 0.02), ...).
    """
    return remote.randomize(rng.randrange(2**63), scale)


def apart(remote: Remote, inputs: list[Any], **kwargs: Any) -> list[Any]:
    """Each input's output data, each answered by a fork of the worker of its own.

    Every fork starts from the object as it is now and forgets what it saw, so a
    submission that remembers what it was asked (to answer a perturbed input with
    the rows it gave before, say) cannot tell the inputs of one comparison apart.
    Build ``remote`` in a fresh worker (``fresh``) so that no forward ran before:
    each input is then the first the student's code ever sees, as in a new process.
    """
    return [out.data for out in remote.forward_many(inputs, apart=True, **kwargs)]


REPEATABLE_INPUTS: dict[str, Callable[[random.Random], tuple[list[Any], dict[str, Any]]]] = {
    "MiniGPT": lambda rng: ([rng.randrange(SMALL["vocab_size"]) for _ in range(4)], {}),
    "TransformerBlock": lambda rng: (rows(rng, 3, SMALL["embed_dim"]), {}),
    "SelfAttention": lambda rng: (rows(rng, 3, SMALL["embed_dim"]), {"causal": False}),
    "FeedForward": lambda rng: (rows(rng, 1, SMALL["embed_dim"])[0], {}),
}


def repeatable(student: Student, cls: str) -> bool:
    """Does ``cls.forward`` give the same output for the same weights and input, whatever
    the state of the ``random`` module? (Dropout left on, or a layer made inside
    forward, does not.) Measured once per grading; a test comparing outputs of this
    class returns early when it is not, and the parameters check reports why."""

    def run() -> bool:
        rng = student.rng(f"repeatable.{cls}")
        config = SMALL if cls == "MiniGPT" else None
        obj = (
            model(student, rng, config)
            if config
            else build(student, rng, cls, SMALL["embed_dim"], *((2,) if "Block" in cls else ()))
        )
        randomize(obj, rng, 0.5)
        x, kwargs = REPEATABLE_INPUTS[cls](rng)
        tokens = cls == "MiniGPT"
        outs = [
            obj.forward_many([x], tokens=tokens, seed=seed, apart=True, **kwargs)[0].data
            for seed in (rng.randrange(1, 2**31), rng.randrange(1, 2**31))
        ]
        return same(outs[0], outs[1], 1e-12)

    return student.measure(f"repeatable.{cls}", run)


def informative(attempt: Callable[[random.Random], bool], rng: random.Random, draws: int) -> bool:
    """True as soon as one of ``draws`` independent attempts shows the effect looked for.

    For an effect that a correct model shows except on a draw of probability p
    (a saturated softmax, a unit that is off everywhere the probe looks), the
    check fails a correct model with probability p ** draws; a model without the
    effect fails every attempt."""
    return any(attempt(random.Random(rng.random())) for _ in range(draws))


def rows(rng: random.Random, t: int, d: int, scale: float = 1.5) -> list[list[float]]:
    """A (t, d) input of uniform floats in [-scale, scale]."""
    return [[rng.uniform(-scale, scale) for _ in range(d)] for _ in range(t)]


def flatten(data: Any) -> list[float]:
    if isinstance(data, list):
        return [x for item in data for x in flatten(item)]
    return [float(data)]


def max_abs_diff(a: Any, b: Any) -> float:
    fa, fb = flatten(a), flatten(b)
    if len(fa) != len(fb):
        return math.inf
    diffs = [abs(x - y) for x, y in zip(fa, fb, strict=True)]
    return math.nan if any(math.isnan(d) for d in diffs) else max(diffs, default=0.0)


def close(a: Any, b: Any, rel: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    fa, fb = flatten(a), flatten(b)
    return len(fa) == len(fb) and all(
        math.isclose(x, y, rel_tol=rel, abs_tol=abs_tol) for x, y in zip(fa, fb, strict=True)
    )


def scale_of(*data: Any) -> float:
    return max((abs(x) for d in data for x in flatten(d)), default=0.0)


def same(a: Any, b: Any, tol: float = 1e-9) -> bool:
    """Equal up to rounding, relative to the size of the numbers."""
    return max_abs_diff(a, b) <= tol * (1.0 + scale_of(a, b))


def differ(a: Any, b: Any, tol: float = 1e-7) -> bool:
    """Clearly different (False for NaN, and for lists of other lengths: that is a shape bug)."""
    diff = max_abs_diff(a, b)
    return math.isfinite(diff) and diff > tol * (1.0 + scale_of(a, b))


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


def cross_entropy(logits: list[list[float]], targets: list[int]) -> tuple[float, list[list[float]]]:
    """Mean over positions of logsumexp(z) - z[y], and its gradient (softmax - onehot) / T."""
    n = len(targets)
    loss = 0.0
    grad = []
    for row, y in zip(logits, targets, strict=True):
        peak = max(row)
        total = sum(math.exp(z - peak) for z in row)
        loss += math.log(total) + peak - row[y]
        probs = [math.exp(z - peak) / total for z in row]
        grad.append([(p - (1.0 if k == y else 0.0)) / n for k, p in enumerate(probs)])
    return loss / n, grad


def chi_square(
    samples: list[int], probs: list[float], groups: list[list[int]] | None = None
) -> float:
    """Pearson's statistic of ``samples`` against ``probs`` (inf if a sample is impossible);
    with ``groups``, of the counts of each group of ids (every id in one group)."""
    n = len(samples)
    groups = groups or [[i] for i in range(len(probs))]
    group_of = {i: g for g, ids in enumerate(groups) for i in ids}
    counts = [0] * len(groups)
    for s in samples:
        counts[group_of[s]] += 1
    stat = 0.0
    for count, ids in zip(counts, groups, strict=True):
        expected = n * sum(probs[i] for i in ids)
        if expected < 1e-9:
            if count:
                return math.inf
            continue
        stat += (count - expected) ** 2 / expected
    return stat
