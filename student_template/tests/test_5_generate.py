"""generate: its output, the cropped context, sampling and temperature.

Most tests run generate on your own MiniGPT, made to answer every call with
logits the test chose (LAST for the last position, OTHER for every earlier
one) and to record the context it was given: then the right samples and
contexts are known exactly.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from helpers import (
    CHI2_LIMIT_DF4,
    answering,
    chi_square,
    describe,
    expect,
    frequencies,
    numbers,
    requires,
    softmax,
)
from minigpt import MiniGPT, generate

V, CONTEXT = 5, 4  # vocabulary and max_seq_len of the model
LAST = [1.2, -0.4, 2.0, 0.3, -1.1]  # the logits of the last position; the argmax is 2
OTHER = [-1.0, 1.0, -2.0, 0.5, 2.5]  # every earlier position: the reverse ranking
SAMPLES = 2000
OUTPUT_TEST = "test_generate_returns_start_plus_new_tokens"
OUTPUT = "Copy start_ids (tokens = list(start_ids)), append exactly max_new_tokens ints, return it."


def small_model(vocab: int = V) -> MiniGPT:
    return MiniGPT(vocab_size=vocab, embed_dim=8, num_heads=2, num_layers=1, max_seq_len=CONTEXT)


def is_id(t: object, vocab: int = V) -> bool:
    return isinstance(t, int) and not isinstance(t, bool) and 0 <= t < vocab


def well_formed(out: Any, start: list[int], new: int, vocab: int = V) -> bool:
    return (
        isinstance(out, list)
        and len(out) == len(start) + new
        and out[: len(start)] == start
        and all(is_id(t, vocab) for t in out)
    )


def samples(
    n: int, temperature: float, last: list[float] = LAST, other: list[float] = OTHER
) -> list[int]:
    """n tokens drawn by generate from the chosen logits."""
    model = small_model(len(last))
    with answering(model, last, other):
        out = generate(model, [0], n, temperature)
    requires(well_formed(out, [0], n, len(last)), OUTPUT_TEST)
    return out[1:]


def follows(found: list[int], probs: list[float]) -> bool:
    return chi_square(found, probs) < CHI2_LIMIT_DF4


@pytest.mark.covers("generate_output")
def test_generate_returns_start_plus_new_tokens() -> None:
    """generate returns start_ids followed by max_new_tokens ids in range, start_ids unchanged
    (a start longer than max_seq_len included)."""
    flat = [0.4, 0.6, 0.5, 0.3, 0.45]  # logits the model answers with: every id is likely
    cases = (([1, 2], 2), ([3], 0), ([4, 0, 1], 1), ([0, 1, 2, 3, 4, 0], 2), ([2], 50))
    for start, new in cases:
        model = small_model()
        given = list(start)
        with answering(model, flat, flat):
            out = generate(model, given, new)
        call = f"generate(model, {start}, max_new_tokens={new})"
        expect(
            isinstance(out, list) and len(out) == len(start) + new,
            f"{call} returned {describe(out)}",
            f"a list of {len(start) + new} ids: the {len(start)} start ids, then {new} new ones",
            OUTPUT,
        )
        expect(
            out[: len(start)] == start,
            f"{call} returned a list starting with {out[: len(start)]}",
            f"the start ids {start} first",
            OUTPUT,
        )
        wrong = [t for t in out if not is_id(t)]
        expect(
            not wrong,
            f"{call} returned {describe(out)}, with {wrong[:3]} among them",
            f"ints from 0 to {V - 1} (token ids), not probabilities, Values or ids shifted by one",
            "Append the index random.choices draws: random.choices(range(V), weights=probs)[0].",
        )
        expect(
            given == start,
            f"after {call}, the caller's list became {given[:8]}",
            f"the caller's list unchanged, {start}",
            OUTPUT,
        )


@pytest.mark.covers("generate_cropping")
@pytest.mark.parametrize("start", [[0, 1], [4, 3, 2, 1, 0, 1, 2]])
def test_generate_crops_to_the_last_max_seq_len_tokens(start: list[int]) -> None:
    """At every step the model is called on the last max_seq_len tokens."""
    new = 6 if len(start) < CONTEXT else 3
    model = small_model()
    with answering(model, LAST, OTHER) as calls:
        out = generate(model, list(start), new, 1.0)
    requires(well_formed(out, start, new), OUTPUT_TEST)
    expect(
        len(calls.contexts) >= new,
        f"generate called the model {len(calls.contexts)} times for {new} new tokens",
        "one call per new token",
        "Call the model once per new token, on the current tokens cropped to the last "
        "model.max_seq_len.",
    )
    for step, context in enumerate(calls.contexts[:new]):
        want = out[: len(start) + step][-CONTEXT:]
        expect(
            context == want,
            f"with max_seq_len = {CONTEXT} and start ids {start}, the model was given {context} "
            f"at step {step}",
            f"the last {CONTEXT} tokens so far, {want}",
            "Crop before every call with tokens[-model.max_seq_len:]: the LAST tokens.",
        )


@pytest.mark.covers("generate_sampling")
def test_samples_follow_the_last_position() -> None:
    """At temperature 1, samples follow the softmax of the LAST position's logits."""
    found = samples(SAMPLES, 1.0)
    freq, probs = frequencies(found, V), softmax(LAST)
    advice = (
        "Take the logits of the last position, logits[-1], softmax them and draw with "
        "random.choices(range(V), weights=probs)."
    )
    if max(freq) > 0.99:
        advice = "Your generate always picks the same token: sample, do not take the argmax."
    elif follows(found, softmax(OTHER)):
        advice = "Your samples follow the FIRST position's logits: use logits[-1]."
    elif follows(found, [1.0 / V] * V):
        advice = "Your samples are uniform: pass the probabilities as weights to random.choices."
    expect(
        follows(found, probs),
        f"{SAMPLES} samples at temperature 1 have frequencies {numbers(freq)}",
        f"about softmax(logits[-1]) = {numbers(probs)}",
        advice,
    )


@pytest.mark.covers("generate_sampling")
def test_two_seeds_give_different_samples() -> None:
    """Different random states give different tokens: generate samples."""
    runs = []
    for seed in (1, 2):
        random.seed(seed)
        runs.append(samples(50, 1.0))
    expect(
        runs[0] != runs[1],
        "generate gave the same 50 tokens after random.seed(1) and after random.seed(2)",
        "different tokens: the draws come from the random module",
        "Draw with random.choices (or random.random()), and do not call random.seed() in generate.",
    )


@pytest.mark.covers("generate_sampling")
def test_every_token_can_be_drawn() -> None:
    """With 12 nearly equally likely tokens, all 12 appear in 600 samples (no top-k cut, no
    token left out)."""
    logits = [0.01 * k for k in range(12)]
    found = samples(600, 1.0, logits, logits)
    missing = sorted(set(range(12)) - set(found))
    expect(
        not missing,
        f"with 12 tokens of nearly equal logits, 600 samples never gave {missing}",
        "every token about 50 times",
        "Sample from all vocab_size probabilities: random.choices(range(len(probs)), "
        "weights=probs), with no top-k or other cut.",
    )


def sampling_at_temperature_one_works() -> bool:
    """Do samples at temperature 1 follow the softmax (test_samples_follow_the_last_position)?"""
    found = samples(SAMPLES, 1.0, LAST, LAST)
    return follows(found, softmax(LAST))


TEMPERATURE = (
    "Divide the last logits by the temperature BEFORE the softmax: a small temperature "
    "sharpens the distribution towards the argmax, a large one flattens it."
)


@pytest.mark.covers("generate_temperature")
def test_low_temperature_picks_the_argmax() -> None:
    """At temperature 0.02 every sample is the most likely token."""
    requires(sampling_at_temperature_one_works(), "test_samples_follow_the_last_position")
    for scale in (1.0, 500.0):  # logits up to 1000: divided by 0.02, up to 50000
        last = [z * scale for z in LAST]
        found = samples(200, 0.02, last, last)
        others = sum(1 for t in found if t != 2)
        expect(
            others == 0,
            f"with logits {numbers(last)} at temperature 0.02, {others} of 200 samples were not "
            "the argmax (token 2)",
            "token 2 every time",
            TEMPERATURE + " Subtract the largest scaled logit before exp() (a stable softmax).",
        )


@pytest.mark.covers("generate_temperature")
@pytest.mark.parametrize("temperature", [2.5, 0.2])
def test_temperature_scales_the_logits(temperature: float) -> None:
    """Samples follow softmax(logits / temperature), at a high and at a low temperature."""
    requires(sampling_at_temperature_one_works(), "test_samples_follow_the_last_position")
    last = LAST if temperature > 1 else [z * temperature for z in LAST]
    found = samples(SAMPLES, temperature, last, last)
    freq, probs = frequencies(found, V), softmax(last, temperature)
    expect(
        follows(found, probs),
        f"with logits {numbers(last)} at temperature {temperature}, {SAMPLES} samples have "
        f"frequencies {numbers(freq)}",
        f"about softmax(logits / {temperature}) = {numbers(probs)}",
        TEMPERATURE + " Do not clamp the temperature.",
    )
