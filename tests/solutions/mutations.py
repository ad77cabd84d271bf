"""Buggy variants of ``reference/minigpt.py``: one plausible student bug each.

Every mutation is a text substitution on the reference source. ``check`` names
the rubric check that must fail for the mutated file: the check the bug is
mainly about (other checks may fail too). Only detectable bugs belong here: a
bug the public API cannot reveal (say, a missing ``1/sqrt(D)`` scale) would
make a correct-looking submission fail nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[2] / "reference" / "minigpt.py"


@dataclass(frozen=True)
class Mutation:
    """One bug: replace ``old`` (found exactly once in the reference) by ``new``."""

    id: str
    check: str
    description: str
    old: str
    new: str


def reference_source() -> str:
    """The current text of ``reference/minigpt.py``."""
    return REFERENCE.read_text(encoding="utf-8")


def apply(mutation: Mutation, source: str) -> str:
    """``source`` with the mutation applied; ValueError unless ``old`` occurs exactly once."""
    count = source.count(mutation.old)
    if count != 1:
        raise ValueError(
            f"mutation {mutation.id!r}: its old snippet occurs {count} times, expected once"
        )
    return source.replace(mutation.old, mutation.new)


# Snippets of the reference shared by several mutations.
_EMBED_RETURN = "        return [list(self.weight[i]) for i in indices]\n"
_LN_INV_STD = "        inv_std = (variance + self.eps) ** -0.5\n"
_FF_LAYERS = (
    "        self.hidden = Linear(embed_dim, hidden_dim)\n"
    "        self.output = Linear(hidden_dim, embed_dim)\n"
)
_VISIBLE = "            visible = i + 1 if causal else len(x)  # the causal mask: keys 0..i only\n"
_ATTN_WEIGHTS = (
    "            weights = _softmax([Value.dot(q, keys[j]) * scale for j in range(visible)])\n"
)
_ATTN_STEP = (
    _VISIBLE
    + _ATTN_WEIGHTS
    + "            mixed = [Value.dot(weights, column[:visible]) for column in value_columns]\n"
)
_BLOCK_BODY = (
    "        x = _add_rows(x, self.attn([self.ln1(row) for row in x]))\n"
    "        return _add_rows(x, [self.ff(self.ln2(row)) for row in x])\n"
)
_BLOCK_ATTN = "        x = _add_rows(x, self.attn([self.ln1(row) for row in x]))\n"
_POSITIONS = "            self.position_embedding(list(range(length))),\n"
_LENGTH_CHECK = "        if length > self.max_seq_len:\n"
_HEAD_INIT = "        self.head = Linear(embed_dim, vocab_size)\n"
_LOGITS = "        return [self.head(self.ln_final(row)) for row in x]\n"
_LOG_SUM_EXP = (
    "        log_sum_exp = Value.sum([(z - largest).exp() for z in row]).log() + largest\n"
)
_CONTEXT = "        context = tokens[-model.max_seq_len :]\n"
_GEN_PROBS = (
    "        scaled = [z.data / temperature for z in last]\n"
    "        largest = max(scaled)\n"
    "        exps = [math.exp(s - largest) for s in scaled]\n"
    "        total = sum(exps)\n"
    "        probs = [e / total for e in exps]\n"
)
_GEN_SAMPLE = "        tokens.append(random.choices(range(len(probs)), weights=probs)[0])\n"


MUTATIONS: tuple[Mutation, ...] = (
    # --- shapes ---------------------------------------------------------------
    Mutation(
        "logits_last_position_only",
        "shapes",
        "MiniGPT.forward returns logits for the last position only, a (1, V) list.",
        _LOGITS,
        "        return [self.head(self.ln_final(x[-1]))]\n",
    ),
    Mutation(
        "feedforward_output_hidden_size",
        "shapes",
        "FeedForward's second Linear maps to hidden_dim instead of back to embed_dim.",
        "        self.output = Linear(hidden_dim, embed_dim)\n",
        "        self.output = Linear(hidden_dim, hidden_dim)\n",
    ),
    Mutation(
        "embedding_flat_output",
        "shapes",
        "Embedding concatenates the looked-up rows into one flat list of T*D Values.",
        _EMBED_RETURN,
        "        return [v for i in indices for v in self.weight[i]]\n",
    ),
    # --- embedding ------------------------------------------------------------
    Mutation(
        "embedding_returns_copies",
        "embedding",
        "Embedding returns new Values copied from the table, so no gradient reaches it.",
        _EMBED_RETURN,
        "        return [[Value(v.data) for v in self.weight[i]] for i in indices]\n",
    ),
    Mutation(
        "embedding_padding_row",
        "embedding",
        "Embedding allocates one extra (padding) row, so the table has (V+1)*D parameters.",
        "            for _ in range(num_embeddings)\n",
        "            for _ in range(num_embeddings + 1)\n",
    ),
    Mutation(
        "embedding_table_built_in_forward",
        "embedding",
        "Embedding draws a fresh random table on every forward call.",
        _EMBED_RETURN,
        "        self.weight = [\n"
        "            [Value(random.gauss(0.0, 1.0)) for _ in range(self.embedding_dim)]\n"
        "            for _ in range(self.num_embeddings)\n"
        "        ]\n" + _EMBED_RETURN,
    ),
    # --- layernorm ------------------------------------------------------------
    Mutation(
        "layernorm_sample_variance",
        "layernorm",
        "LayerNorm divides the squared deviations by D - 1 (sample variance).",
        "        variance = Value.dot(centred, centred) * inv_n  # population variance\n",
        "        variance = Value.dot(centred, centred) * (1.0 / (self.dim - 1))\n",
    ),
    Mutation(
        "layernorm_eps_outside_sqrt",
        "layernorm",
        "LayerNorm adds eps to the standard deviation instead of to the variance.",
        _LN_INV_STD,
        "        inv_std = (variance**0.5 + self.eps) ** -1\n",
    ),
    Mutation(
        "layernorm_without_eps",
        "layernorm",
        "LayerNorm divides by sqrt(var) with no eps, so a constant vector divides by zero.",
        _LN_INV_STD,
        "        inv_std = variance**-0.5\n",
    ),
    Mutation(
        "layernorm_no_mean_subtraction",
        "layernorm",
        "LayerNorm scales x by 1/std but forgets to subtract the mean from it.",
        "zip(centred, self.gain",
        "zip(x, self.gain",
    ),
    # --- feedforward ----------------------------------------------------------
    Mutation(
        "feedforward_no_activation",
        "feedforward",
        "FeedForward has no non-linearity between its two Linear layers.",
        "        hidden: Vector = [h.relu() for h in self.hidden(x)]\n",
        "        hidden: Vector = self.hidden(x)\n",
    ),
    Mutation(
        "feedforward_hidden_equals_embed",
        "feedforward",
        "FeedForward's default hidden size is embed_dim instead of 4 * embed_dim.",
        "            hidden_dim = 4 * embed_dim\n",
        "            hidden_dim = embed_dim\n",
    ),
    Mutation(
        "feedforward_ignores_hidden_dim",
        "feedforward",
        "FeedForward always uses 4 * embed_dim, ignoring the hidden_dim argument.",
        _FF_LAYERS,
        _FF_LAYERS.replace("hidden_dim", "4 * embed_dim"),
    ),
    # --- attention ------------------------------------------------------------
    Mutation(
        "softmax_not_normalised",
        "attention",
        "The attention softmax returns the exponentials without dividing by their sum.",
        "    return [e * inv_total for e in exps]\n",
        "    return exps\n",
    ),
    Mutation(
        "softmax_over_queries",
        "attention",
        "Attention normalises each key's column over the queries instead of each query's row.",
        _VISIBLE + _ATTN_WEIGHTS,
        "            visible = i + 1 if causal else len(x)\n"
        "            first = [j if causal else 0 for j in range(len(x))]\n"
        "            columns = [\n"
        "                _softmax([Value.dot(queries[r], keys[j]) * scale"
        " for r in range(first[j], len(x))])\n"
        "                for j in range(len(x))\n"
        "            ]\n"
        "            weights = [columns[j][i - first[j]] for j in range(visible)]\n",
    ),
    # --- causal_mask ----------------------------------------------------------
    Mutation(
        "mask_inverted",
        "causal_mask",
        "The causal mask keeps keys j >= i instead of j <= i.",
        _ATTN_STEP,
        "            seen = range(i, len(x)) if causal else range(len(x))\n"
        "            weights = _softmax([Value.dot(q, keys[j]) * scale for j in seen])\n"
        "            mixed = [Value.dot(weights, [column[j] for j in seen])"
        " for column in value_columns]\n",
    ),
    Mutation(
        "mask_missing",
        "causal_mask",
        "Attention ignores the causal flag and always attends to every position.",
        _VISIBLE,
        "            visible = len(x)\n",
    ),
    Mutation(
        "mask_always_on",
        "causal_mask",
        "Attention always applies the causal mask, even with causal=False.",
        _VISIBLE,
        "            visible = i + 1\n",
    ),
    Mutation(
        "mask_after_softmax",
        "causal_mask",
        "The softmax runs over all keys and the future weights are dropped afterwards.",
        _ATTN_WEIGHTS,
        "            every = [Value.dot(q, k) * scale for k in keys]\n"
        "            weights = _softmax(every)[:visible]\n",
    ),
    Mutation(
        "mask_excludes_self",
        "causal_mask",
        "The causal mask uses j < i, so a position cannot attend to itself.",
        _VISIBLE,
        "            visible = i if causal else len(x)\n",
    ),
    # --- residual -------------------------------------------------------------
    Mutation(
        "post_norm_block",
        "residual",
        "The block normalises after each residual addition (post-norm) instead of before.",
        _BLOCK_BODY,
        "        x = [self.ln1(row) for row in _add_rows(x, self.attn(x))]\n"
        "        return [self.ln2(row) for row in _add_rows(x, [self.ff(row) for row in x])]\n",
    ),
    Mutation(
        "attention_residual_missing",
        "residual",
        "The block replaces x by the attention output instead of adding it to x.",
        _BLOCK_ATTN,
        "        x = self.attn([self.ln1(row) for row in x])\n",
    ),
    Mutation(
        "residual_adds_normalised_x",
        "residual",
        "The attention residual adds ln1(x) instead of the un-normalised x.",
        _BLOCK_ATTN,
        "        normed = [self.ln1(row) for row in x]\n"
        "        x = _add_rows(normed, self.attn(normed))\n",
    ),
    # --- positional -----------------------------------------------------------
    Mutation(
        "no_position_embedding",
        "positional",
        "MiniGPT uses only the token embeddings and never adds the position embeddings.",
        "        x = _add_rows(\n"
        "            self.token_embedding(token_ids),\n" + _POSITIONS + "        )\n",
        "        x = self.token_embedding(token_ids)\n",
    ),
    Mutation(
        "positions_from_token_ids",
        "positional",
        "The position embedding is looked up with the token ids instead of 0..T-1.",
        _POSITIONS,
        "            self.position_embedding(list(token_ids)),\n",
    ),
    # --- max_seq_len ----------------------------------------------------------
    Mutation(
        "positions_wrap_around",
        "max_seq_len",
        "Long inputs are accepted: positions wrap modulo max_seq_len instead of raising.",
        _LENGTH_CHECK
        + "            raise ValueError(\n"
        + '                f"sequence of {length} tokens is longer than'
        + ' max_seq_len={self.max_seq_len}"\n'
        + "            )\n"
        + "        x = _add_rows(\n"
        + "            self.token_embedding(token_ids),\n"
        + _POSITIONS,
        "        x = _add_rows(\n"
        "            self.token_embedding(token_ids),\n"
        "            self.position_embedding([t % self.max_seq_len for t in range(length)]),\n",
    ),
    Mutation(
        "length_check_off_by_one",
        "max_seq_len",
        "forward rejects T == max_seq_len too (>= instead of >).",
        _LENGTH_CHECK,
        "        if length >= self.max_seq_len:\n",
    ),
    # --- cross_entropy --------------------------------------------------------
    Mutation(
        "loss_sum_not_mean",
        "cross_entropy",
        "cross_entropy_loss sums the per-position losses instead of averaging them.",
        "    return Value.sum(losses) * (1.0 / len(losses))\n",
        "    return Value.sum(losses)\n",
    ),
    Mutation(
        "loss_no_max_subtraction",
        "cross_entropy",
        "cross_entropy_loss exponentiates raw logits, overflowing for logits near 800.",
        _LOG_SUM_EXP,
        "        log_sum_exp = Value.sum([z.exp() for z in row]).log()\n",
    ),
    Mutation(
        "loss_shifts_targets_again",
        "cross_entropy",
        "cross_entropy_loss shifts the (already shifted) targets by one more position.",
        "    for row, target in zip(logits, targets",
        "    for row, target in zip(logits[:-1], targets[1:]",
    ),
    Mutation(
        "loss_float_normaliser",
        "cross_entropy",
        "cross_entropy_loss computes logsumexp with floats, so its gradient misses softmax.",
        _LOG_SUM_EXP,
        "        log_sum_exp = Value(\n"
        "            math.log(sum(math.exp(z.data - largest) for z in row)) + largest\n"
        "        )\n",
    ),
    # --- gradients ------------------------------------------------------------
    Mutation(
        "detached_residual",
        "gradients",
        "The attention residual re-wraps x as Value(v.data), cutting its gradient path.",
        _BLOCK_ATTN,
        "        shortcut = [[Value(v.data) for v in row] for row in x]\n"
        "        x = _add_rows(shortcut, self.attn([self.ln1(row) for row in x]))\n",
    ),
    Mutation(
        "layernorm_constant_mean",
        "gradients",
        "LayerNorm computes the mean as a plain number, so no gradient flows through it.",
        "        mean = Value.sum(x) * inv_n\n",
        "        mean = Value(sum(v.data for v in x) * inv_n)\n",
    ),
    Mutation(
        "softmax_constant_total",
        "gradients",
        "The attention softmax divides by the sum of exponentials taken as a float.",
        "    inv_total = Value.sum(exps) ** -1\n",
        "    inv_total = 1.0 / sum(e.data for e in exps)\n",
    ),
    Mutation(
        "head_uses_weight_copies",
        "gradients",
        "The output layer multiplies by float copies of its weights, which never get a gradient.",
        _LOGITS,
        "        rows = [[Value(w.data) for w in r] for r in self.head.weight]\n"
        "        return [\n"
        "            [Value.dot(r, self.ln_final(h)) for r in rows] for h in x\n"
        "        ]\n",
    ),
    # --- parameters -----------------------------------------------------------
    Mutation(
        "parameters_forget_head",
        "parameters",
        "MiniGPT overrides parameters() and forgets the output layer.",
        _HEAD_INIT,
        _HEAD_INIT + "\n"
        "    def parameters(self) -> list[Value]:\n"
        "        params = self.token_embedding.parameters()"
        " + self.position_embedding.parameters()\n"
        "        for block in self.blocks:\n"
        "            params += block.parameters()\n"
        "        return params + self.ln_final.parameters()\n",
    ),
    Mutation(
        "layernorm_parameters_forget_bias",
        "parameters",
        "LayerNorm overrides parameters() and returns only the gain.",
        "        self.bias: Vector = [Value(0.0) for _ in range(dim)]\n",
        "        self.bias: Vector = [Value(0.0) for _ in range(dim)]\n"
        "\n"
        "    def parameters(self) -> list[Value]:\n"
        "        return list(self.gain)\n",
    ),
    # --- training -------------------------------------------------------------
    Mutation(
        "head_rebuilt_in_forward",
        "training",
        "MiniGPT.forward creates a new output Linear on every call, discarding training.",
        _LOGITS,
        "        self.head = Linear(len(x[0]), self.vocab_size)\n" + _LOGITS,
    ),
    # --- generate_output ------------------------------------------------------
    Mutation(
        "generate_returns_new_only",
        "generate_output",
        "generate returns only the newly sampled ids, without start_ids.",
        "    return tokens\n",
        "    return tokens[len(start_ids) :]\n",
    ),
    Mutation(
        "generate_mutates_start_ids",
        "generate_output",
        "generate appends to the caller's start_ids list instead of a copy.",
        "    tokens = list(start_ids)\n",
        "    tokens = start_ids\n",
    ),
    Mutation(
        "generate_one_token_short",
        "generate_output",
        "generate samples max_new_tokens - 1 tokens.",
        "    for _ in range(max_new_tokens):\n",
        "    for _ in range(max_new_tokens - 1):\n",
    ),
    # --- generate_cropping ----------------------------------------------------
    Mutation(
        "crop_keeps_first_tokens",
        "generate_cropping",
        "generate crops the context to the FIRST max_seq_len tokens.",
        _CONTEXT,
        "        context = tokens[: model.max_seq_len]\n",
    ),
    Mutation(
        "crop_one_token_short",
        "generate_cropping",
        "generate crops the context to the last max_seq_len - 1 tokens.",
        _CONTEXT,
        "        context = tokens[-(model.max_seq_len - 1) :]\n",
    ),
    Mutation(
        "no_cropping",
        "generate_cropping",
        "generate feeds the whole token list to the model without cropping.",
        _CONTEXT,
        "        context = tokens\n",
    ),
    # --- generate_sampling ----------------------------------------------------
    Mutation(
        "sample_first_position",
        "generate_sampling",
        "generate samples from the FIRST position's logits instead of the last.",
        "        last = model(context)[-1]\n",
        "        last = model(context)[0]\n",
    ),
    Mutation(
        "greedy_sampling",
        "generate_sampling",
        "generate always takes the argmax, even at temperature 1.",
        _GEN_SAMPLE,
        "        tokens.append(probs.index(max(probs)))\n",
    ),
    Mutation(
        "uniform_sampling",
        "generate_sampling",
        "generate samples uniformly, forgetting to pass the probabilities as weights.",
        _GEN_SAMPLE,
        "        tokens.append(random.choice(range(len(probs))))\n",
    ),
    # --- generate_temperature -------------------------------------------------
    Mutation(
        "temperature_multiplies",
        "generate_temperature",
        "generate multiplies the logits by the temperature instead of dividing.",
        "        scaled = [z.data / temperature for z in last]\n",
        "        scaled = [z.data * temperature for z in last]\n",
    ),
    Mutation(
        "temperature_after_softmax",
        "generate_temperature",
        "generate divides the probabilities, not the logits, by the temperature.",
        _GEN_PROBS,
        _GEN_PROBS.replace("z.data / temperature", "z.data").replace(
            "e / total", "e / total / temperature"
        ),
    ),
)
