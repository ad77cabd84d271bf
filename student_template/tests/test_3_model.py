"""MiniGPT: logits, length, positions, causality, blocks, parameters() and gradients."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from engine import Value
from helpers import (
    after,
    check_keeps_its_weights,
    describe,
    differ,
    distinct,
    expect,
    matrix_of,
    max_gap,
    number,
    parameters_of,
    parts_of,
    randomize,
    requires,
    same,
)
from minigpt import Embedding, LayerNorm, MiniGPT, TransformerBlock

V, D, HEADS, LAYERS, N = 7, 8, 2, 2, 6  # N = max_seq_len
SHAPE = "MiniGPT maps T token ids to T rows of vocab_size logits."

# The tests of the parts a model test uses: it is judged once they pass (see after()).
BASICS = ("test_logits_shape", "test_full_length_is_allowed")
STABLE = (  # every part keeps its weights: forward is a function of weights and input
    "test_embedding_keeps_its_weights",
    "test_embedding_is_a_lookup_table",
    "test_layernorm_keeps_its_weights",
    "test_feedforward_keeps_its_weights",
    "test_attention_keeps_its_weights",
    "test_block_keeps_its_weights",
    "test_minigpt_keeps_its_weights",
)


def small_model(layers: int = LAYERS, max_seq_len: int = N) -> MiniGPT:
    return MiniGPT(
        vocab_size=V, embed_dim=D, num_heads=HEADS, num_layers=layers, max_seq_len=max_seq_len
    )


def random_model(seed: int, layers: int = LAYERS, scale: float = 0.5) -> MiniGPT:
    """A MiniGPT whose every weight is random: a rule for ANY weights then shows."""
    model = small_model(layers)
    randomize(model, random.Random(seed), scale)
    return model


def logits(model: MiniGPT, ids: list[int]) -> list[list[float]]:
    return matrix_of(model(ids), len(ids), V, f"MiniGPT (V={V}) on {len(ids)} tokens", SHAPE)


def random_ids(rng: random.Random, t: int = N) -> list[int]:
    return [rng.randrange(V) for _ in range(t)]


def shift_weights(params: list[Value], rng: random.Random) -> list[float]:
    """Move every Value in params at random; returns the old numbers."""
    old = [p.data for p in params]
    for p in params:
        p.data += rng.gauss(0.0, 0.5)
    return old


def follows_the_weights(model: MiniGPT, ids: list[int]) -> bool:
    """Do the logits change when every weight changes (a forward that caches results does
    not: test_sgd_lowers_the_loss says so)?"""
    params = list(model.parameters())
    base = [[v.data for v in row] for row in model(ids)]
    old = shift_weights(params, random.Random(0))
    moved = [[v.data for v in row] for row in model(ids)]
    for p, x in zip(params, old):
        p.data = x
    return differ(moved, base)


# --------------------------------------------------------------------------
# Shapes and length


@pytest.mark.covers("shapes")
def test_logits_shape() -> None:
    """MiniGPT returns T rows of vocab_size logits (here T = 1 and T = 3)."""
    after("test_embedding_shape", "test_block_shape")
    model = small_model()
    for ids in ([4], [0, 3, 5]):
        logits(model, ids)


@pytest.mark.covers("max_seq_len", "positional")
def test_full_length_is_allowed() -> None:
    """T == max_seq_len works: the length check and the position table allow it (also with
    fewer tokens in the vocabulary than max_seq_len)."""
    after("test_logits_shape")
    logits(small_model(), [1, 5, 2, 0, 6, 3])
    model = MiniGPT(vocab_size=3, embed_dim=D, num_heads=HEADS, num_layers=1, max_seq_len=8)
    ids = [0, 2, 1, 1, 0, 2, 2, 1]
    matrix_of(model(ids), 8, 3, "MiniGPT(vocab_size=3, max_seq_len=8) on 8 tokens", SHAPE)


@pytest.mark.covers("max_seq_len")
def test_too_long_sequence_is_rejected() -> None:
    """More than max_seq_len tokens raise an exception (any type) instead of giving logits."""
    after("test_logits_shape")
    model = small_model()
    for t in (N + 1, N + 3):
        try:
            out: Any = model([1] * t)
        except NotImplementedError:
            raise
        except Exception:
            continue  # raising is the point; any exception type will do
        expect(
            False,
            f"with max_seq_len = {N}, MiniGPT accepted {t} tokens and returned {describe(out)}",
            "an exception (ValueError, say)",
            "Check len(token_ids) <= max_seq_len in forward and raise otherwise, instead of "
            "cropping the input or reusing position rows.",
        )


# --------------------------------------------------------------------------
# parameters()


PARAMETERS = ("test_minigpt_keeps_its_weights", "test_parameters_lists_each_weight_once")


@pytest.mark.covers("parameters")
def test_minigpt_keeps_its_weights() -> None:
    """Every weight MiniGPT uses is made once and listed by parameters(); forward neither
    replaces nor changes them, and the same ids give the same logits."""
    after(*BASICS, "test_embedding_keeps_its_weights", "test_embedding_is_a_lookup_table")
    model = random_model(15)
    ids = random_ids(random.Random(16), 4)
    check_keeps_its_weights(model, lambda: logits(model, ids), "MiniGPT")


@pytest.mark.covers("parameters")
def test_parameters_lists_each_weight_once() -> None:
    """parameters() lists each Value once, a shared (tied) one too."""
    after("test_logits_shape")
    params = parameters_of(small_model(), "MiniGPT")
    expect(
        distinct(params) == len(params),
        f"parameters() lists {len(params)} Values but only {distinct(params)} different ones",
        "each Value once, or an optimiser would update it several times per step",
        "Skip a Value already listed (Module.parameters() does this for you).",
    )


# --------------------------------------------------------------------------
# Causality and positions


def changed(ids: list[int], k: int, rng: random.Random) -> list[int]:
    other = list(ids)
    other[k] = (other[k] + 1 + rng.randrange(V - 1)) % V
    return other


@pytest.mark.covers("causal_mask")
def test_model_is_causal() -> None:
    """Changing token k never moves the logits at an earlier position."""
    after(*BASICS, *STABLE, "test_causal_mask_hides_the_future")
    model = random_model(1)
    rng = random.Random(2)
    ids = random_ids(rng)
    base = logits(model, ids)
    for k in (N - 1, N // 2, 1):
        out = logits(model, changed(ids, k, rng))
        for i in range(k):
            expect(
                same(base[i], out[i], 1e-7),
                f"changing token {k} moved the logits at position {i} by "
                f"{number(max_gap(base[i], out[i]))}",
                f"the logits at position {i} unchanged: position {i} must not see the future",
                "Each block must call its attention with the causal mask on (the default). If "
                "SelfAttention passes its own causal tests, look for something else that mixes "
                "positions: a LayerNorm or FeedForward applied across positions instead of to "
                "each row.",
            )


@pytest.mark.covers("positional")
def test_same_token_differs_by_position() -> None:
    """The same token at every position gives position-dependent logits."""
    after(*BASICS, *STABLE)
    model = random_model(3, scale=1.0)
    out = logits(model, [2] * N)
    expect(
        any(differ(out[t], out[0]) for t in range(1, N)),
        f"with token 2 at all {N} positions, every position got the same logits",
        "different logits per position: the model must know where each token is",
        "Add a learned position embedding, row t for position t (0, 1, ..., T-1), to each "
        "token's embedding before the first block.",
    )


@pytest.mark.covers("positional")
def test_appending_tokens_never_changes_earlier_logits() -> None:
    """The logits of the first t tokens do not depend on how many tokens follow."""
    after(
        *BASICS,
        *STABLE,
        "test_model_is_causal",
        "test_appending_rows_never_changes_earlier_outputs",
    )
    model = random_model(6)
    ids = random_ids(random.Random(7))
    full = logits(model, ids)
    for t in (1, N // 2):
        part = logits(model, ids[:t])
        expect(
            all(same(a, b, 1e-7) for a, b in zip(part, full[:t])),
            f"the logits of the first {t} tokens change when {N - t} more tokens follow",
            "the same logits: token t gets row t of the position table, counted from the start",
            "Use positions 0, 1, ..., T-1 for the T tokens: range(len(token_ids)).",
        )


@pytest.mark.covers("positional")
def test_positions_have_a_table_of_their_own() -> None:
    """Changing the token table's row for a token absent from the input moves no logit but,
    with a tied output layer, that token's own: positions come from their own table."""
    after(*BASICS, *STABLE)
    model = random_model(31)
    tables = [e for e in parts_of(model, Embedding) if distinct(e.parameters()) == V * D]
    if len(tables) != 1:
        return  # the token table is not an Embedding of V rows: nothing to change here
    ids, absent = [0, 1, 2, 1, 0, 2], 4  # token 4 never appears; position 4 does
    base = logits(model, ids)
    row = {v.data for v in tables[0]([absent])[0]}
    entries = [p for p in tables[0].parameters() if p.data in row]
    old = shift_weights(entries, random.Random(32))
    out = logits(model, ids)
    for p, x in zip(entries, old):
        p.data = x
    others = [k for k in range(V) if k != absent]
    expect(
        not differ([[r[k] for k in others] for r in out], [[r[k] for k in others] for r in base]),
        f"changing the token table's row for token {absent}, which is not in the input "
        f"{ids}, moved the logits of other tokens",
        f"no change, but in the logit of token {absent} itself (if the output layer is tied "
        "to the token table)",
        "Look position t up in the position table (max_seq_len rows), not in the token "
        "table: token_embedding(ids) + position_embedding(range(T)).",
    )


@pytest.mark.covers("positional")
def test_each_position_sees_its_own_token() -> None:
    """Changing the token at position k changes the logits at k: tokens are embedded."""
    after(*BASICS, *STABLE)
    model = random_model(8)
    rng = random.Random(9)
    ids = random_ids(rng)
    base = logits(model, ids)
    for k in (0, N - 1):
        out = logits(model, changed(ids, k, rng))
        expect(
            differ(base[k], out[k]),
            f"changing token {k} did not change the logits at position {k}",
            f"other logits at position {k}",
            "Add each token's embedding and its position's embedding, then run the blocks on "
            "that sum.",
        )


# --------------------------------------------------------------------------
# Blocks and the final norm (and, with one block, the order of the tokens)


def outside(tables: int) -> set[int]:
    """Parameters of a model besides its blocks: the tables, a final norm, the output layer."""
    return {
        tables + norm + head
        for norm in (0, D, 2 * D)  # no parameters, a gain, or a gain and a bias
        for head in (0, V, D * V, D * V + V)  # tied (with or without a bias), or its own
    }


@pytest.mark.covers("blocks")
def test_each_layer_adds_one_block() -> None:
    """num_layers = 1, 2, 3: each layer adds one TransformerBlock's parameters."""
    after(*BASICS, *PARAMETERS, "test_embedding_is_a_lookup_table")
    block = distinct(parameters_of(TransformerBlock(D, HEADS), f"TransformerBlock({D}, {HEADS})"))
    counts = [
        distinct(parameters_of(small_model(n), f"MiniGPT with {n} layers")) for n in (1, 2, 3)
    ]
    found = parts_of(small_model(1), Embedding)
    tables = sum(distinct(e.parameters()) for e in found) if found else V * D + N * D
    expect(
        counts[0] - block in outside(tables),
        f"MiniGPT with 1 layer has {counts[0]} parameters",
        f"one TransformerBlock ({block}) plus the token and position tables ({tables}), the "
        "final LayerNorm and the output layer: one of "
        f"{sorted(x + block for x in outside(tables))}",
        "Build exactly num_layers blocks: [TransformerBlock(...) for _ in range(num_layers)].",
    )
    expect(
        counts[1] - counts[0] == block and counts[2] - counts[1] == block,
        f"MiniGPT with 1, 2 and 3 layers has {counts[0]}, {counts[1]} and {counts[2]} parameters",
        f"each extra layer to add one TransformerBlock's {block} parameters",
        "Create a NEW TransformerBlock for every layer; [block] * num_layers repeats one object.",
    )


@pytest.mark.covers("blocks")
def test_every_block_and_the_final_norm_reach_the_logits() -> None:
    """With 3 layers, changing the weights of any one block, or of the final norm, moves the
    logits."""
    after(*BASICS, *STABLE, *PARAMETERS)
    model = random_model(10, layers=3)
    rng = random.Random(11)
    ids = random_ids(rng)
    base = logits(model, ids)
    requires(follows_the_weights(model, ids), "test_sgd_lowers_the_loss")
    blocks = parts_of(model, TransformerBlock)
    norms = [n for n in parts_of(model, LayerNorm, stop=TransformerBlock) if n.parameters()]
    for what, part in [
        *((f"block {i}", b) for i, b in enumerate(blocks)),
        *(("the final LayerNorm", n) for n in norms),
    ]:
        params = part.parameters()
        old = shift_weights(params, rng)
        out = logits(model, ids)
        for p, x in zip(params, old):
            p.data = x
        expect(
            differ(out, base),
            f"changing every weight of {what} (of {len(blocks)} blocks) did not change the logits",
            f"other logits: {what} must feed the output",
            "Chain the blocks, x = block(x) for each block in turn, then apply the final "
            "LayerNorm to each row of the last x, then the output layer.",
        )


@pytest.mark.covers("blocks")
def test_final_norm_is_applied_once_after_the_blocks() -> None:
    """With every block's weights at 0 (blocks are then the identity), 1 and 2 layers give
    the same logits: the final norm is applied once, after the last block."""
    after(*BASICS, *STABLE, *PARAMETERS, "test_each_layer_adds_one_block")
    after("test_block_with_zero_weights_returns_its_input")
    rng = random.Random(13)
    ids = random_ids(rng, 4)
    outs = []
    for layers in (1, 2):
        model = small_model(layers)
        blocks = parts_of(model, TransformerBlock)
        if len(blocks) != layers:
            return  # the blocks are not TransformerBlock objects: none to set to 0 here
        in_blocks = {id(p) for b in blocks for p in b.parameters()}
        draw = random.Random(14)  # the same numbers for both models' other weights
        for p in model.parameters():
            p.data = 0.0 if id(p) in in_blocks else draw.gauss(0.0, 0.7)
        outs.append(logits(model, ids))
    expect(
        same(outs[0], outs[1], 1e-7),
        "with the blocks' weights at 0 and the same other weights, 1 and 2 layers gave "
        f"different logits (by up to {number(max_gap(outs[0], outs[1]))})",
        "the same logits: identity blocks, then the final LayerNorm once, then the output layer",
        "Apply the final LayerNorm once, after the loop over the blocks, not inside it.",
    )


@pytest.mark.covers("positional")
def test_the_order_of_earlier_tokens_matters() -> None:
    """[a, b, c] and [b, a, c] give different logits for c (one layer): positions enter before
    the blocks, so attention knows which earlier token came first."""
    after(*BASICS, *STABLE, "test_model_is_causal")
    after("test_each_layer_adds_one_block", "test_every_block_and_the_final_norm_reach_the_logits")
    model = random_model(30, layers=1)
    for a, b, c in ((1, 4, 2), (0, 6, 3)):
        first, second = logits(model, [a, b, c])[2], logits(model, [b, a, c])[2]
        expect(
            differ(first, second),
            f"tokens {[a, b, c]} and {[b, a, c]} give the same logits at position 2",
            "different logits: the same tokens in another order are another context",
            "Add the position embedding to each token's embedding BEFORE the first block, so "
            "that the blocks see where each token is.",
        )


# --------------------------------------------------------------------------
# Gradients


STEPS = (1e-5, 1e-4, 1e-6)
CUT = (
    "Build every step from Value operations on Values: a Value(x.data) copy, a number taken "
    "from .data, or a value computed with plain floats cuts backward() off from the weights."
)


def agree(analytic: float, numeric: float) -> bool:
    return abs(analytic - numeric) <= 1e-6 + 1e-2 * max(abs(analytic), abs(numeric))


@pytest.mark.covers("gradients")
def test_gradients_match_finite_differences() -> None:
    """backward() agrees with finite differences along random directions, on a tiny model."""
    after(*BASICS, *STABLE, *PARAMETERS, "test_embedding_gradient_reaches_the_rows_used")
    rng = random.Random(18)
    model = MiniGPT(vocab_size=5, embed_dim=4, num_heads=1, num_layers=1, max_seq_len=4)
    params = parameters_of(model, "MiniGPT")
    for p in params:
        p.data = rng.gauss(0.0, 0.5)
    theta = [p.data for p in params]
    ids = [rng.randrange(5) for _ in range(4)]
    weights = [[rng.uniform(-1.0, 1.0) for _ in range(5)] for _ in ids]

    def objective() -> Value:  # sum of weights * logits: a loss of the tests' own
        out = model(ids)
        matrix_of(out, 4, 5, "MiniGPT (V=5) on 4 tokens", SHAPE)
        return Value.sum([Value.dot(w, row) for w, row in zip(weights, out)])

    def at(direction: dict[int, float], step: float) -> float:
        for i, w in direction.items():
            params[i].data = theta[i] + step * w
        value = objective().data
        for i in direction:
            params[i].data = theta[i]
        return value

    def rates(direction: dict[int, float]) -> list[float]:
        """Central and one-sided differences at three steps: a ReLU kink spoils only some."""
        found = []
        for step in STEPS:
            up, down = at(direction, step), at(direction, -step)
            found += [(up - down) / (2 * step), (up - base) / step, (base - down) / step]
        return found

    loss = objective()
    base = loss.data
    for p in params:
        p.grad = 0.0
    loss.backward()
    grads = [p.grad for p in params]
    expect(
        all(math.isfinite(g) for g in grads),
        "some parameter gradients are infinite or NaN after backward()",
        "finite gradients",
        "Look for a division by zero or an exp() of a large number in forward.",
    )
    requires(follows_the_weights(model, ids), "test_sgd_lowers_the_loss")

    everything = range(len(params))
    directions = [{i: rng.choice((-1.0, 1.0)) for i in everything} for _ in range(4)]
    nonzero = [i for i in everything if grads[i] != 0.0]
    directions += [{i: 1.0} for i in rng.sample(nonzero, min(4, len(nonzero)))]
    for direction in directions:
        analytic = sum(grads[i] * w for i, w in direction.items())
        found = rates(direction)
        what = "one parameter" if len(direction) == 1 else f"all {len(direction)} parameters"
        expect(
            any(agree(analytic, r) for r in found),
            f"moving {what} changes the output at a rate of {number(found[0])}, but the "
            f"gradients from backward() predict {number(analytic)}",
            "the same rate: backward() computes the derivative of what forward computed",
            CUT,
        )

    zero = {i: rng.choice((-1.0, 1.0)) for i in everything if grads[i] == 0.0}
    if zero:
        found = rates(zero)
        expect(
            any(abs(r) <= 1e-5 for r in found),
            f"{len(zero)} parameters have a gradient of exactly 0, yet moving them changes the "
            f"output (at a rate of {number(found[0])})",
            "parameters with gradient 0 to have no effect: backward() must reach every weight "
            "forward uses",
            CUT,
        )
