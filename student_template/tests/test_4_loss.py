"""cross_entropy_loss (value, gradient, stability), and a short training run."""

from __future__ import annotations

import math
import random

import pytest
from engine import Value
from helpers import after, describe, expect, number, numbers, parameters_of, same
from minigpt import MiniGPT, cross_entropy_loss

FORMULA = (
    "Per position t: logsumexp(logits[t]) - logits[t][target], with the row's largest logit "
    "subtracted before exp() and added back after log(); then the mean over the T positions."
)


def loss_of(rows: list[list[float]], targets: list[int]) -> tuple[float, list[list[float]]]:
    """Your loss on these logits, and its gradient with respect to them (from backward())."""
    logits = [[Value(z) for z in row] for row in rows]
    loss = cross_entropy_loss(logits, targets)
    expect(
        isinstance(loss, Value),
        f"cross_entropy_loss returned {describe(loss)}",
        "a single Value, so that loss.backward() works",
        "Build the loss from Value operations and return the mean as one Value.",
    )
    loss.backward()
    return loss.data, [[v.grad for v in row] for row in logits]


def formula(rows: list[list[float]], targets: list[int]) -> tuple[float, list[list[float]]]:
    """mean_t(logsumexp(z_t) - z_t[y_t]) and its gradient (softmax - onehot) / T."""
    loss, grad = 0.0, []
    for row, y in zip(rows, targets):
        peak = max(row)
        total = sum(math.exp(z - peak) for z in row)
        loss += math.log(total) + peak - row[y]
        grad.append(
            [(math.exp(z - peak) / total - (k == y)) / len(rows) for k, z in enumerate(row)]
        )
    return loss / len(rows), grad


def mistake(got: float, want: float, rows: list[list[float]], targets: list[int]) -> str:
    """Advice naming the usual mistake that `got` matches."""
    t, v = len(rows), len(rows[0])
    per_position = [formula([row], [y])[0] for row, y in zip(rows, targets)]
    if math.isclose(got, want * t, rel_tol=1e-6):
        return "Your loss is the SUM over positions: divide by the number of positions T."
    if math.isclose(got, want * t / v, rel_tol=1e-6):
        return "Your loss is divided by the vocabulary size: divide by the number of positions T."
    if math.isclose(got, -want, rel_tol=1e-6):
        return "Your loss has the wrong sign: it is MINUS the log-probability of the target."
    if math.isclose(got, per_position[-1], rel_tol=1e-6):
        return "Your loss is the last position's only: average over every position."
    return FORMULA


@pytest.mark.covers("cross_entropy")
def test_loss_worked_example() -> None:
    """A case to check by hand: 2 positions, 3 classes."""
    # Position 0: logits [0, ln 2, 0] -> exp [1, 2, 1] -> softmax [1/4, 1/2, 1/4]; target 1.
    #   Loss -ln(1/2) = ln 2.
    # Position 1: logits [ln 3, 0, 0] -> exp [3, 1, 1] -> softmax [3/5, 1/5, 1/5]; target 0.
    #   Loss -ln(3/5) = ln(5/3).
    # Mean over the 2 positions: (ln 2 + ln(5/3)) / 2 = ln(10/3) / 2, about 0.602.
    rows = [[0.0, math.log(2.0), 0.0], [math.log(3.0), 0.0, 0.0]]
    targets = [1, 0]
    got, grads = loss_of(rows, targets)
    want = math.log(10.0 / 3.0) / 2
    expect(
        math.isclose(got, want, rel_tol=1e-9),
        f"cross_entropy_loss gave {number(got)} for the worked example",
        f"(ln 2 + ln(5/3)) / 2 = {number(want)}",
        mistake(got, want, rows, targets),
    )
    # The gradient with respect to logits[t] is (softmax(logits[t]) - onehot(target)) / T.
    want_grads = [[0.25 / 2, -0.5 / 2, 0.25 / 2], [-0.4 / 2, 0.2 / 2, 0.2 / 2]]
    expect(
        same(grads, want_grads, 1e-9),
        f"the gradient of the loss with respect to the first row of logits is {numbers(grads[0])}",
        f"(softmax - onehot(target)) / T = {numbers(want_grads[0])}",
        "Build the loss from Value operations on the logits you were given (no .data), so "
        "that backward() reaches every logit.",
    )


@pytest.mark.covers("cross_entropy")
def test_loss_and_gradient_on_random_logits() -> None:
    """Random logits: the loss and its gradient follow the formula."""
    rng = random.Random(1)
    rows = [[rng.uniform(-3.0, 3.0) for _ in range(5)] for _ in range(4)]
    targets = [rng.randrange(5) for _ in rows]
    got, grads = loss_of(rows, targets)
    want, want_grads = formula(rows, targets)
    expect(
        math.isclose(got, want, rel_tol=1e-6),
        f"on 4 rows of 5 random logits, cross_entropy_loss gave {number(got)}",
        f"the mean of logsumexp(z) - z[target] = {number(want)}",
        mistake(got, want, rows, targets),
    )
    expect(
        same(grads, want_grads, 1e-6),
        f"the gradient with respect to the first row of logits is {numbers(grads[0])}",
        f"(softmax - onehot(target)) / T = {numbers(want_grads[0])}",
        "Build the loss from Value operations on the logits themselves: a plain float in the "
        "formula (z.data, or a sum of floats) hides part of the gradient.",
    )


@pytest.mark.covers("cross_entropy")
def test_loss_of_large_logits_is_finite() -> None:
    """Logits of +-1000 give the right finite loss: exp() never sees a huge number."""
    cases = [
        ([[1000.0, 0.0, -1000.0]], [0], 0.0),
        # -log(e^999 / (e^1000 + e^999 + e^-1000)) = 1 + log(1 + e^-1 + e^-2000)
        ([[1000.0, 999.0, -1000.0]], [1], 1.0 + math.log(1.0 + math.exp(-1.0))),
    ]
    for rows, targets, want in cases:
        got, _ = loss_of(rows, targets)
        expect(
            math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9),
            f"with logits {numbers(rows[0])} and target {targets[0]} the loss is {number(got)}",
            f"{number(want)}",
            "math.exp(1000) overflows: subtract the row's largest logit before exp(), and add "
            "it back after log() (logsumexp).",
        )


# --------------------------------------------------------------------------
# Training


def own_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    """The tests' own cross-entropy (so that this test is about your model, not your loss)."""
    terms = []
    for row, y in zip(logits, targets):
        peak = max(z.data for z in row)
        terms.append(Value.sum([(z - peak).exp() for z in row]).log() + peak - row[y])
    return Value.sum(terms) * (1.0 / len(terms))


@pytest.mark.covers("training")
def test_sgd_lowers_the_loss() -> None:
    """Plain SGD cuts the loss on one short sequence by 20% within 40 steps."""
    after(
        "test_logits_shape",
        "test_full_length_is_allowed",
        "test_embedding_is_a_lookup_table",
        "test_minigpt_keeps_its_weights",
    )
    tried = []
    for lr in (0.3, 0.1, 0.5):
        random.seed(2)
        model = MiniGPT(vocab_size=7, embed_dim=8, num_heads=2, num_layers=2, max_seq_len=6)
        params = parameters_of(model, "MiniGPT")
        rng = random.Random(3)
        ids = [rng.randrange(7) for _ in range(7)]
        inputs, targets = ids[:-1], ids[1:]
        losses: list[float] = []
        for _ in range(40):
            loss = own_loss(model(inputs), targets)
            losses.append(loss.data)
            if loss.data <= 0.8 * losses[0] or not math.isfinite(loss.data):
                break
            for p in params:
                p.grad = 0.0
            loss.backward()
            for p in params:
                p.data -= lr * p.grad
        if math.isfinite(losses[-1]) and losses[-1] <= 0.8 * losses[0]:
            return
        tried.append(f"{number(losses[0])} to {number(losses[-1])} at learning rate {lr}")
    expect(
        False,
        f"40 steps of SGD on one sequence took the loss from {'; from '.join(tried)}",
        "a fall of at least 20% at one of these learning rates",
        "Check that backward() reaches every weight, that parameters() lists them, that "
        "forward uses the weights as they are now (no cached results), and that weights are "
        "created once, in __init__.",
    )
