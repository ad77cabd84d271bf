"""Checks `generate_output`, `generate_cropping`, `generate_sampling`, `generate_temperature`.

Output runs generate() on the student's own MiniGPT. Cropping, sampling and
temperature run it on the student's own MiniGPT too, wrapped so that every
call of the model returns logits the judge chose (the LAST row for the last
position, another row for every earlier one): every other attribute
(max_seq_len, vocab_size, isinstance(model, Module)) is the student's. The
wrapper records each call's context; the judge checks that record against the
ids generate returned, so a forged record has to agree with the samples.

Sampling at temperature 1 uses a vocabulary of 40, whose 36 least likely tokens
hold 45% of the probability: a top-k or top-p cut left on by default shows
there. The temperature-0.02 test shifts the logits by 600 (scaled, 30,000):
only a softmax that subtracts the maximum stays finite, as the lesson's does.

False failures: each frequency test is a chi-square test at p = 1e-8 (three of
them: 3e-8 per grading); at temperature 0.02 a token other than the argmax,
whose logit is at least 0.5 lower, has a chance below e^-25 per sample (2e-9 for
the 200 samples); two seeds give the same 50 tokens with a chance below 0.5^50.
"""

from __future__ import annotations

import pytest

from grader.judge.failures import StudentError
from grader.judge.remote import Generated, Student
from grader.suite.suite_support import (
    CHI2_CRITICAL,
    MODEL,
    chi_square,
    expect,
    model,
    softmax,
)

V = 5
WIDE = 40  # the vocabulary of the temperature-1 sampling test
SAMPLES = 2000
SHIFT = 600.0  # added to every logit at temperature 0.02: 30,000 once scaled
# The groups whose counts the wide test compares: the 4 likely tokens one by one,
# the 36 others in 4 groups of 9 (every expected count above 100).
WIDE_GROUPS = [[0], [1], [2], [3], *([4 + 9 * g + i for i in range(9)] for g in range(4))]


def logits_pair(student: Student) -> tuple[list[float], list[float]]:
    """This grading's LAST row (the one to sample from) and OTHER row (every earlier one)."""
    rng = student.rng("generate.logits")
    while True:
        last = [round(rng.uniform(-1.5, 2.0), 3) for _ in range(V)]
        ranked = sorted(last)
        if ranked[-1] - ranked[-2] >= 0.5 and ranked[1] - ranked[0] >= 0.1:
            break
    order = sorted(range(V), key=last.__getitem__)
    other = [0.0] * V
    for rank, index in enumerate(order):  # the reverse ranking: clearly another distribution
        other[index] = [2.5, 1.0, 0.5, -1.0, -2.0][rank]
    return last, other


def wide_logits(student: Student) -> tuple[list[float], list[float], list[int]]:
    """LAST and OTHER rows over WIDE tokens, and where each of WIDE_GROUPS' ids sits:
    4 likely tokens (logits near 2, 1.5, 1, 0.5) and 36 near -1, their places shuffled."""
    rng = student.rng("generate.wide")
    likely = [top + rng.uniform(-0.1, 0.1) for top in (2.0, 1.5, 1.0, 0.5)]
    # The tail sorted from likeliest to least likely, so WIDE_GROUPS' last group holds the
    # 9 least likely tokens: the ones a top-p cut drops first.
    tail = sorted((-1.0 + rng.uniform(-0.2, 0.2) for _ in range(WIDE - 4)), reverse=True)
    values = likely + tail
    place = list(range(WIDE))
    rng.shuffle(place)  # place[i]: the token that gets the i-th value
    last, other = [0.0] * WIDE, [0.0] * WIDE
    for i, token in enumerate(place):
        last[token] = round(values[i], 3)
        other[token] = round(-values[i], 3)  # the reverse ranking
    return last, other, place


def _generated(
    student: Student,
    name: str,
    start: list[int],
    new: int,
    temperature: float = 1.0,
    seed: int = 0,
    max_seq_len: int = 4,
    wrap: bool = True,
    logits: tuple[list[float], list[float]] | None = None,
    vocab: int = V,
) -> Generated:
    def run() -> Generated:
        rng = student.rng(name)
        config = {**MODEL, "vocab_size": vocab, "max_seq_len": max_seq_len}
        gpt = model(student, rng, config)
        rows = (logits or logits_pair(student)) if wrap else None
        return student.generate(
            gpt, start, new, temperature, seed=seed, logits=rows, max_context=max_seq_len
        )

    key = f"{name}/{start}/{new}/{temperature}/{seed}/{wrap}/{logits}/{vocab}"
    return student.measure(key, run)


def _ids(result: Generated, start: list[int], new: int, vocab: int = V) -> list[int]:
    expect(
        len(result.ids) == len(start) + new,
        f"generate(model, {start if len(start) < 6 else '...'}, max_new_tokens={new}) returned "
        f"{len(result.ids)} ids; expected {len(start) + new} ({len(start)} start ids and {new} "
        "new ones)",
        "Copy start_ids, append exactly max_new_tokens ids, and return the whole list.",
    )
    expect(
        result.ids[: len(start)] == start,
        f"the result starts with {result.ids[: min(len(start), 6)]}; expected the start ids "
        f"{start[:6]}",
    )
    bad = [i for i in result.ids if not 0 <= i < vocab]
    expect(not bad, f"generate produced ids {bad[:3]} outside range({vocab})")
    return result.ids


# --- generate_output ----------------------------------------------------------


@pytest.mark.check("generate_output")
def test_returns_start_plus_new_tokens(student: Student) -> None:
    """generate returns start_ids followed by max_new_tokens ids in range"""
    _ids(_generated(student, "generate.real", [1, 2], 5, wrap=False), [1, 2], 5)


@pytest.mark.check("generate_output")
def test_start_ids_not_modified(student: Student) -> None:
    """generate does not modify the caller's start_ids"""
    start = [3, 0, 4]
    result = _generated(student, "generate.real", start, 3, wrap=False)
    expect(
        result.start_after == start,
        f"after the call, the caller's start_ids list became {result.start_after[:8]}",
        "Copy it first: tokens = list(start_ids).",
    )


@pytest.mark.check("generate_output")
def test_zero_and_long_start(student: Student) -> None:
    """max_new_tokens=0 returns start_ids; a start longer than max_seq_len works"""
    start = [1, 2, 3]
    _ids(_generated(student, "generate.real", start, 0, wrap=False), start, 0)
    long_start = [0, 1, 2, 3, 4, 0, 1, 2, 3]
    _ids(_generated(student, "generate.real", long_start, 3, wrap=False), long_start, 3)


# --- generate_cropping --------------------------------------------------------


def _check_contexts(result: Generated, start: list[int], new: int, max_seq_len: int) -> None:
    ids = _ids(result, start, new)
    expect(
        len(result.contexts) >= new,
        f"generate called the model {len(result.contexts)} times for {new} new tokens",
        "Call the model once per new token, on the current (cropped) tokens.",
    )
    for step, context in enumerate(result.contexts[:new]):
        want = ids[: len(start) + step][-max_seq_len:]
        expect(
            context == want,
            f"at step {step} the model was given {context}; expected the last "
            f"{max_seq_len} tokens {want}",
            "Crop with tokens[-model.max_seq_len:] (the LAST tokens) before every call.",
        )


@pytest.mark.check("generate_cropping")
def test_context_is_last_tokens(student: Student) -> None:
    """The model is called on the last max_seq_len tokens at every step"""
    result = _generated(student, "generate.crop", [0, 1], 6, max_seq_len=4)
    _check_contexts(result, [0, 1], 6, 4)


@pytest.mark.check("generate_cropping")
def test_long_start_is_cropped(student: Student) -> None:
    """A start longer than max_seq_len is cropped to its last tokens"""
    start = [4, 3, 2, 1, 0, 1, 2, 3, 4]
    result = _generated(student, "generate.crop", start, 3, max_seq_len=3)
    _check_contexts(result, start, 3, 3)


# --- generate_sampling / generate_temperature ---------------------------------


def _samples(
    student: Student,
    temperature: float,
    n: int = SAMPLES,
    seed: int = 0,
    logits: tuple[list[float], list[float]] | None = None,
    vocab: int = V,
) -> list[int]:
    result = _generated(
        student,
        "generate.sample",
        [0],
        n,
        temperature,
        seed,
        logits=logits,
        max_seq_len=4,
        vocab=vocab,
    )
    return _ids(result, [0], n, vocab)[1:]


def _fmt_probs(p: list[float]) -> str:
    return "[" + ", ".join(f"{x:.2f}" for x in p) + "]"


def _group(values: list[float], groups: list[list[int]]) -> list[float]:
    return [sum(values[i] for i in ids) for ids in groups]


def _diagnose(
    freq: list[float],
    temperature: float,
    last: list[float],
    other: list[float],
    groups: list[list[int]],
) -> str | None:
    candidates = {
        "the FIRST position's logits": softmax(other, temperature),
        "logits multiplied (not divided) by the temperature": softmax(
            [z * temperature for z in last]
        ),
        "unscaled logits (temperature ignored)": softmax(last),
    }
    for name, probs in candidates.items():
        if temperature == 1.0 and "temperature" in name:
            continue
        if max(abs(a - b) for a, b in zip(freq, _group(probs, groups), strict=True)) < 0.03:
            return f"Your samples follow {name}."
    if max(freq) > 0.99:
        return "Your generate always picks the same token: sample, do not take the argmax."
    tail = sum(freq[4:]) if len(groups) > 4 else 1.0
    want = sum(_group(softmax(last, temperature), groups)[4:]) if len(groups) > 4 else 1.0
    if tail < 0.5 * want:
        return (
            "Your generate rarely picks the less likely tokens: a top-k or top-p cut is on by "
            "default. Sample from the whole softmax unless asked otherwise."
        )
    return None


def _expect_distribution(
    student: Student,
    temperature: float,
    logits: tuple[list[float], list[float]] | None = None,
    vocab: int = V,
    groups: list[list[int]] | None = None,
) -> None:
    last, other = logits or logits_pair(student)
    groups = groups or [[i] for i in range(vocab)]
    samples = _samples(student, temperature, logits=logits, vocab=vocab)
    probs = softmax(last, temperature)
    counts = [0] * len(groups)
    group_of = {i: g for g, ids in enumerate(groups) for i in ids}
    for sample in samples:
        counts[group_of[sample]] += 1
    freq = [c / max(len(samples), 1) for c in counts]
    what = (
        "frequencies"
        if len(groups) == vocab
        else "frequencies (4 likely tokens, then 4 groups of 9)"
    )
    expect(
        chi_square(samples, probs, groups) < CHI2_CRITICAL[len(groups) - 1],
        f"at temperature {temperature:g}, {len(samples)} samples have {what} "
        f"{_fmt_probs(freq)}; expected about softmax(logits[-1] / {temperature:g}) = "
        f"{_fmt_probs(_group(probs, groups))}",
        _diagnose(freq, temperature, last, other, groups),
    )


def _wide(student: Student) -> tuple[tuple[list[float], list[float]], list[list[int]]]:
    last, other, place = wide_logits(student)
    return (last, other), [[place[i] for i in ids] for ids in WIDE_GROUPS]


def truncates_the_tail(student: Student) -> bool:
    """Does generate (at temperature 1) hardly ever pick the least likely tokens, as a
    top-k or top-p cut does? Then the temperature tests, which would only meet the cut
    again, do not judge: the sampling check names it. A cut still draws: a generate that
    always gives one token (greedy, or no sampling at all) ignores the temperature too,
    and the temperature tests judge it."""
    logits, groups = _wide(student)
    try:
        samples = _samples(student, 1.0, logits=logits, vocab=WIDE)
    except StudentError:
        return False
    least = set(groups[-1])
    want = sum(softmax(logits[0])[i] for i in least)
    draws = len(set(samples)) > 1
    return draws and sum(1 for s in samples if s in least) < 0.5 * want * len(samples)


@pytest.mark.check("generate_sampling")
def test_samples_follow_last_position(student: Student) -> None:
    """At temperature 1, samples follow the softmax of the last position's logits (40 tokens)"""
    logits, groups = _wide(student)
    _expect_distribution(student, 1.0, logits, vocab=WIDE, groups=groups)


@pytest.mark.check("generate_sampling")
def test_samples_vary_with_seed(student: Student) -> None:
    """Different random states give different samples (sampling, not a fixed choice)"""
    a = _samples(student, 1.0, n=50, seed=1)
    b = _samples(student, 1.0, n=50, seed=2)
    expect(
        a != b,
        "generate gave the same 50 tokens for two different random seeds",
        "Draw with the random module (random.choices or random.random()).",
    )


@pytest.mark.check("generate_temperature")
def test_low_temperature_picks_argmax(student: Student) -> None:
    """A very low temperature always picks the most likely token, even with large logits"""
    last, other = logits_pair(student)
    shifted = ([z + SHIFT for z in last], [z + SHIFT for z in other])
    samples = _samples(student, 0.02, n=200, logits=shifted)
    best = max(range(V), key=last.__getitem__)
    others = [s for s in samples if s != best]
    expect(
        not others,
        f"at temperature 0.02 with logits near {SHIFT:g}, {len(others)} of 200 samples were "
        f"not the argmax {best}",
        "Divide by the temperature (a small one sharpens the distribution), then subtract the "
        "largest scaled logit before exp.",
    )


@pytest.mark.check("generate_temperature")
def test_high_temperature_flattens(student: Student) -> None:
    """At temperature 2.5 samples follow softmax(logits / 2.5)"""
    if truncates_the_tail(student):
        return  # a top-k or top-p cut: the sampling check reports it
    _expect_distribution(student, 2.5)


@pytest.mark.check("generate_temperature")
def test_small_temperature_is_not_clamped(student: Student) -> None:
    """At temperature 0.2 samples follow softmax(logits / 0.2) (no lower clamp)"""
    if truncates_the_tail(student):
        return  # a top-k or top-p cut: the sampling check reports it
    last, other = logits_pair(student)
    close_logits = ([z * 0.2 for z in last], other)
    _expect_distribution(student, 0.2, logits=close_logits)
