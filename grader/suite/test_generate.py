"""Checks `generate_output`, `generate_cropping`, `generate_sampling`, `generate_temperature`.

Cropping, sampling and temperature run generate() on a stand-in model with
known logits, so they test generate alone; output runs it on the student's
own MiniGPT.
"""

from __future__ import annotations

import pytest

from grader.judge.subjects import Subject
from grader.suite.suite_support import (
    CHI2_CRITICAL_DF4,
    MODEL,
    chi_square,
    expect,
    frequencies,
    softmax,
)

LAST = [1.0, 0.2, -0.5, 2.0, 0.0]
OTHER = [2.5, -1.0, 0.5, -2.0, 1.0]
SAMPLES = 2000


def _fmt_probs(p: list[float]) -> str:
    return "[" + ", ".join(f"{x:.2f}" for x in p) + "]"


def _result_ids(result: dict, what: str) -> list[int]:
    described = result["result"]
    expect(described["ok"], f"generate {described.get('problem')}", "Return a list of int ids.")
    return list(described["ids"])


# --- generate_output ----------------------------------------------------------


@pytest.mark.check("generate_output")
def test_returns_start_plus_new_tokens(student: Subject) -> None:
    """generate returns start_ids followed by max_new_tokens ids in range"""
    start = [1, 2]
    result = student.run("generate_real", config=MODEL, start_ids=start, max_new_tokens=5)
    ids = _result_ids(result, "generate")
    expect(
        len(ids) == len(start) + 5,
        f"generate(model, {start}, max_new_tokens=5) returned {len(ids)} ids; expected "
        f"{len(start) + 5} (the 2 start ids and 5 new ones)",
    )
    expect(ids[: len(start)] == start, f"the result starts with {ids[:2]}; expected {start}")
    bad = [i for i in ids if not 0 <= i < MODEL["vocab_size"]]
    expect(not bad, f"generate produced ids {bad} outside range({MODEL['vocab_size']})")


@pytest.mark.check("generate_output")
def test_start_ids_not_modified(student: Subject) -> None:
    """generate does not modify the caller's start_ids"""
    start = [3, 0, 4]
    result = student.run("generate_real", config=MODEL, start_ids=start, max_new_tokens=3)
    expect(
        result["start_after"] == start,
        f"after the call, the caller's start_ids list became {result['start_after']}",
        "Copy it first: tokens = list(start_ids).",
    )


@pytest.mark.check("generate_output")
def test_zero_and_long_start(student: Subject) -> None:
    """max_new_tokens=0 returns start_ids; a start longer than max_seq_len works"""
    start = [1, 2, 3]
    ids = _result_ids(
        student.run("generate_real", config=MODEL, start_ids=start, max_new_tokens=0), "generate"
    )
    expect(ids == start, f"with max_new_tokens=0 generate returned {ids}; expected {start}")
    long_start = [0, 1, 2, 3, 4, 5, 6, 0, 1]
    ids = _result_ids(
        student.run("generate_real", config=MODEL, start_ids=long_start, max_new_tokens=3),
        "generate",
    )
    expect(
        len(ids) == len(long_start) + 3 and ids[: len(long_start)] == long_start,
        f"with 9 start ids (max_seq_len is 6) and 3 new tokens, generate returned {len(ids)} "
        "ids; expected the 9 start ids followed by 3 new ones",
    )


# --- generate_cropping --------------------------------------------------------


def _check_contexts(result: dict, start: list[int], max_seq_len: int) -> None:
    ids = _result_ids(result, "generate")
    contexts = result["contexts"]
    new = ids[len(start) :]
    expect(
        result["calls"] >= len(new),
        f"generate called the model {result['calls']} times for {len(new)} new tokens",
    )
    for step, context in enumerate(contexts[: len(new)]):
        seq = (start + new)[: len(start) + step]
        want = seq[-max_seq_len:]
        expect(
            context == want,
            f"at step {step} the model was given {context}; expected the last "
            f"{max_seq_len} tokens {want}",
            "Crop with tokens[-model.max_seq_len:] (the LAST tokens) before every call.",
        )


@pytest.mark.check("generate_cropping")
def test_context_is_last_tokens(student: Subject) -> None:
    """The model is called on the last max_seq_len tokens at every step"""
    start = [0, 1]
    result = student.run(
        "generate_stub", max_seq_len=4, last=LAST, other=OTHER, start_ids=start, max_new_tokens=6
    )
    _check_contexts(result, start, 4)


@pytest.mark.check("generate_cropping")
def test_long_start_is_cropped(student: Subject) -> None:
    """A start longer than max_seq_len is cropped to its last tokens"""
    start = [4, 3, 2, 1, 0, 1, 2, 3, 4]
    result = student.run(
        "generate_stub", max_seq_len=3, last=LAST, other=OTHER, start_ids=start, max_new_tokens=3
    )
    _check_contexts(result, start, 3)


# --- generate_sampling / generate_temperature ---------------------------------


def _samples(student: Subject, temperature: float, n: int = SAMPLES, seed: int = 0) -> list[int]:
    result = student.run(
        "generate_stub",
        max_seq_len=4,
        last=LAST,
        other=OTHER,
        start_ids=[0],
        max_new_tokens=n,
        temperature=temperature,
        record_contexts=False,
        seed=seed,
    )
    ids = _result_ids(result, "generate")
    samples = ids[1:]
    expect(len(samples) == n, f"generate returned {len(samples)} new ids; expected {n}")
    bad = [s for s in samples if not 0 <= s < len(LAST)]
    expect(not bad, f"generate produced ids {bad[:3]} outside range({len(LAST)})")
    return samples


def _diagnose(freq: list[float], temperature: float) -> str | None:
    candidates = {
        "the FIRST position's logits": softmax(OTHER, temperature),
        "logits multiplied (not divided) by the temperature": softmax(
            [z * temperature for z in LAST]
        ),
        "unscaled logits (temperature ignored)": softmax(LAST),
    }
    for name, probs in candidates.items():
        if temperature == 1.0 and "temperature" in name:
            continue
        if max(abs(a - b) for a, b in zip(freq, probs, strict=True)) < 0.03:
            return f"Your samples follow {name}."
    if max(freq) > 0.99:
        return "Your generate always picks the same token: sample, do not take the argmax."
    return None


def _expect_distribution(student: Subject, temperature: float) -> None:
    samples = _samples(student, temperature)
    probs = softmax(LAST, temperature)
    freq = frequencies(samples, len(LAST))
    stat = chi_square(samples, probs)
    diagnosis = _diagnose(freq, temperature)
    expect(
        stat < CHI2_CRITICAL_DF4,
        f"at temperature {temperature:g}, {len(samples)} samples have frequencies "
        f"{_fmt_probs(freq)}; expected about softmax(logits[-1] / {temperature:g}) = "
        f"{_fmt_probs(probs)}",
        diagnosis,
    )


@pytest.mark.check("generate_sampling")
def test_samples_follow_last_position(student: Subject) -> None:
    """At temperature 1, samples follow the softmax of the last position's logits"""
    _expect_distribution(student, 1.0)


@pytest.mark.check("generate_sampling")
def test_samples_vary_with_seed(student: Subject) -> None:
    """Different random states give different samples (sampling, not a fixed choice)"""
    a = _samples(student, 1.0, n=50, seed=1)
    b = _samples(student, 1.0, n=50, seed=2)
    expect(
        a != b,
        "generate gave the same 50 tokens for two different random seeds",
        "Draw with the random module (random.choices or random.random()).",
    )


@pytest.mark.check("generate_temperature")
def test_low_temperature_picks_argmax(student: Subject) -> None:
    """A very low temperature always picks the most likely token"""
    samples = _samples(student, 0.02, n=200)
    best = max(range(len(LAST)), key=LAST.__getitem__)
    others = [s for s in samples if s != best]
    expect(
        not others,
        f"at temperature 0.02, {len(others)} of 200 samples were not the argmax {best}",
        "Divide by the temperature: a small temperature sharpens the distribution.",
    )


@pytest.mark.check("generate_temperature")
def test_high_temperature_flattens(student: Subject) -> None:
    """At temperature 2.5 samples follow softmax(logits / 2.5)"""
    _expect_distribution(student, 2.5)


@pytest.mark.check("generate_temperature")
def test_half_temperature_sharpens(student: Subject) -> None:
    """At temperature 0.5 samples follow softmax(logits / 0.5)"""
    _expect_distribution(student, 0.5)
