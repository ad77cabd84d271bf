"""Buggy variants of correct solutions: one plausible student bug each.

Every mutation is a text substitution on a correct solution: the reference
(``reference/minigpt.py``) unless ``base`` names one of the bank's
``correct_*.py`` files, for the bugs a student writing in that style makes.
``check`` names the rubric check that must fail for the mutated file: the
check whose concept the bug is about (other checks may fail too).

Only detectable bugs belong here: a bug the statement's API cannot reveal
would make a correct-looking submission fail nothing. Considered and left out
for that reason: a missing ``1/sqrt(D)`` scale or ``sqrt(D)`` in place of
``1/sqrt(D)`` (any constant factor folds into the query weights); ln1 and ln2
swapped between the two branches (two LayerNorm(D) of the same shape: the
assignment is the student's to choose); blocks applied in reverse order (the
blocks are interchangeable); the attention output projection applied to each
value before the weighted sum instead of after (the weights sum to one, so
both give the same function); a hidden bias added after the activation
instead of before it (its effect folds into the output bias: a bias-free
hidden layer, which is legal).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BANK = Path(__file__).resolve().parent
REFERENCE = BANK.parents[1] / "reference" / "minigpt.py"


@dataclass(frozen=True)
class Mutation:
    """One bug: replace ``old`` (found exactly once in the base) by ``new``.

    ``base`` is the file name of a correct solution of the bank
    (``correct_*.py``), or None for the reference.
    """

    id: str
    check: str
    description: str
    old: str
    new: str
    base: str | None = None


def reference_source() -> str:
    """The current text of ``reference/minigpt.py``."""
    return REFERENCE.read_text(encoding="utf-8")


def base_source(mutation: Mutation, bank: Path = BANK) -> str:
    """The text the mutation applies to: its base in ``bank``, or the reference."""
    if mutation.base is None:
        return reference_source()
    return (bank / mutation.base).read_text(encoding="utf-8")


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
_EMBED_TABLE = (
    "            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]\n"
    "            for _ in range(num_embeddings)\n"
)
_LN_RETURN = (
    "        return [c * inv_std * g + b"
    " for c, g, b in zip(centred, self.gain, self.bias, strict=True)]\n"
)
_FF_FORWARD = (
    "        hidden: Vector = [h.relu() for h in self.hidden(x)]\n"
    "        result: Vector = self.output(hidden)\n"
)
_SCALE = "        scale = 1.0 / math.sqrt(self.embed_dim)\n"
_MIXED = "            mixed = [Value.dot(weights, column[:visible]) for column in value_columns]\n"
_BLOCK_FF = "        return _add_rows(x, [self.ff(self.ln2(row)) for row in x])\n"
_BLOCKS_INIT = (
    "        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]\n"
)
_BLOCK_LOOP = "        for block in self.blocks:\n            x = block(x)\n"
_MODEL_PARAMETERS_HEAD = (
    "\n"
    "    def parameters(self) -> list[Value]:\n"
    "        params = self.token_embedding.parameters() + self.position_embedding.parameters()\n"
    "        for block in self.blocks:\n"
    "            params += block.parameters()\n"
)
_LENGTH_RAISE = (
    _LENGTH_CHECK
    + "            raise ValueError(\n"
    + '                f"sequence of {length} tokens is longer than'
    + ' max_seq_len={self.max_seq_len}"\n'
    + "            )\n"
)
_LOSS_APPEND = "        losses.append(log_sum_exp - row[target])\n"
_LOSS_ROW = "        largest = max(z.data for z in row)\n" + _LOG_SUM_EXP + _LOSS_APPEND
_LOSS_MEAN = "    return Value.sum(losses) * (1.0 / len(losses))\n"
_GEN_SCALED = "        scaled = [z.data / temperature for z in last]\n"
_GEN_LOOP = "    for _ in range(max_new_tokens):\n"
_SOFTMAX_EXPS = "    exps = [(s - largest).exp() for s in scores]\n"
_SOFTMAX_BODY = (
    "    largest = max(s.data for s in scores)\n"
    + _SOFTMAX_EXPS
    + "    inv_total = Value.sum(exps) ** -1\n"
    + "    return [e * inv_total for e in exps]\n"
)
_ATTN_VALUES = "        values: Matrix = [self.value(row) for row in x]\n"
_FF_HIDDEN = "        hidden: Vector = [h.relu() for h in self.hidden(x)]\n"
_POSITION_TABLE = "        self.position_embedding = Embedding(max_seq_len, embed_dim)\n"
_GEN_BODY = _GEN_LOOP + _CONTEXT + "        last = model(context)[-1]\n" + _GEN_PROBS + _GEN_SAMPLE


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
        "parameters",
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
    # --- shapes (more) --------------------------------------------------------
    Mutation(
        "forward_returns_logits_and_loss",
        "shapes",
        "MiniGPT.forward returns a (logits, loss) pair as nanoGPT does, not the logits.",
        _LOGITS,
        "        logits = [self.head(self.ln_final(row)) for row in x]\n"
        "        return logits, None\n",
    ),
    Mutation(
        "embedding_transposed_output",
        "shapes",
        "Embedding returns the looked-up rows transposed, a (D, T) list.",
        _EMBED_RETURN,
        "        return [[self.weight[i][d] for i in indices]"
        " for d in range(self.embedding_dim)]\n",
    ),
    # --- embedding (more) -----------------------------------------------------
    Mutation(
        "embedding_table_one_row_short",
        "embedding",
        "Embedding allocates num_embeddings - 1 rows, so the last index has no row.",
        "            for _ in range(num_embeddings)\n",
        "            for _ in range(num_embeddings - 1)\n",
    ),
    Mutation(
        "embedding_table_dims_swapped",
        "embedding",
        "Embedding's nested comprehension is swapped: D rows of num_embeddings Values.",
        _EMBED_TABLE,
        "            [Value(random.gauss(0.0, 1.0)) for _ in range(num_embeddings)]\n"
        "            for _ in range(embedding_dim)\n",
    ),
    # --- layernorm (more) -----------------------------------------------------
    Mutation(
        "layernorm_ignores_eps",
        "layernorm",
        "LayerNorm ignores its eps argument and always uses 1e-5.",
        "        self.eps = eps\n",
        "        self.eps = 1e-5\n",
    ),
    Mutation(
        "layernorm_divides_by_variance",
        "layernorm",
        "LayerNorm divides by var + eps instead of by its square root.",
        _LN_INV_STD,
        "        inv_std = (variance + self.eps) ** -1\n",
    ),
    Mutation(
        "layernorm_uncentred_variance",
        "layernorm",
        "LayerNorm's variance is mean(x^2), the deviations are not taken from the mean.",
        "        variance = Value.dot(centred, centred) * inv_n  # population variance\n",
        "        variance = Value.dot(x, x) * inv_n\n",
    ),
    Mutation(
        "layernorm_gain_added",
        "layernorm",
        "LayerNorm adds the gain instead of multiplying by it: x_hat + gain + bias.",
        _LN_RETURN,
        _LN_RETURN.replace("c * inv_std * g + b", "c * inv_std + g + b"),
    ),
    # --- feedforward (more) ---------------------------------------------------
    Mutation(
        "feedforward_activation_after_output",
        "feedforward",
        "FeedForward applies ReLU after the second Linear layer instead of between the two.",
        _FF_FORWARD,
        "        hidden: Vector = self.hidden(x)\n"
        "        result: Vector = [r.relu() for r in self.output(hidden)]\n",
    ),
    Mutation(
        "feedforward_activation_on_input",
        "feedforward",
        "FeedForward applies ReLU to the input, before the first Linear layer.",
        _FF_FORWARD,
        "        hidden: Vector = self.hidden([v.relu() for v in x])\n"
        "        result: Vector = self.output(hidden)\n",
    ),
    Mutation(
        "feedforward_hidden_size_fixed",
        "feedforward",
        "FeedForward's default hidden size is a fixed 32 instead of 4 * embed_dim.",
        "            hidden_dim = 4 * embed_dim\n",
        "            hidden_dim = 32\n",
    ),
    Mutation(
        "feedforward_hidden_dim_as_multiplier",
        "feedforward",
        "FeedForward reads hidden_dim as a multiplier: its hidden size is hidden_dim * embed_dim.",
        "        if hidden_dim is None:\n            hidden_dim = 4 * embed_dim\n",
        "        hidden_dim = (4 if hidden_dim is None else hidden_dim) * embed_dim\n",
    ),
    Mutation(
        "feedforward_first_unit_linear",
        "feedforward",
        "FeedForward's ReLU loop starts at index 1, so hidden unit 0 stays linear.",
        _FF_FORWARD,
        "        hidden: Vector = self.hidden(x)\n"
        "        for k in range(1, len(hidden)):\n"
        "            hidden[k] = hidden[k].relu()\n"
        "        result: Vector = self.output(hidden)\n",
    ),
    # --- attention (more) -----------------------------------------------------
    Mutation(
        "attention_scores_key_sum",
        "attention",
        "The attention score of key j is the sum of k_j, without the query.",
        _ATTN_WEIGHTS,
        "            weights = _softmax([Value.sum(keys[j]) * scale for j in range(visible)])\n",
    ),
    Mutation(
        "attention_scores_ignore_key",
        "attention",
        "The scores use keys[i] instead of keys[j]: every visible key gets the same weight.",
        _ATTN_WEIGHTS,
        "            weights = _softmax([Value.dot(q, keys[i]) * scale for j in range(visible)])\n",
    ),
    Mutation(
        "attention_scores_ignore_query",
        "attention",
        "The scores use queries[j] instead of the current query: q_j . k_j, the same for every i.",
        _ATTN_WEIGHTS,
        "            weights = _softmax(\n"
        "                [Value.dot(queries[j], keys[j]) * scale for j in range(visible)]\n"
        "            )\n",
    ),
    Mutation(
        "attention_scale_sqrt_seq_len",
        "attention",
        "The scores are scaled by 1 / sqrt(T), the sequence length, instead of 1 / sqrt(D).",
        _SCALE,
        "        scale = 1.0 / math.sqrt(len(x))\n",
    ),
    Mutation(
        "attention_scale_seq_len",
        "attention",
        "The scores are divided by T, the sequence length, instead of by sqrt(D).",
        _SCALE,
        "        scale = 1.0 / len(x)\n",
    ),
    Mutation(
        "attention_mean_of_weighted_values",
        "attention",
        "Attention averages the weighted values (divides by the number of keys) instead of "
        "summing them.",
        _MIXED,
        "            mixed = [\n"
        "                Value.dot(weights, column[:visible]) * (1.0 / visible)"
        " for column in value_columns\n"
        "            ]\n",
    ),
    Mutation(
        "attention_sigmoid_weights",
        "attention",
        "Attention squashes each score with a sigmoid instead of a softmax over the keys.",
        _ATTN_WEIGHTS,
        "            weights = [\n"
        "                (1.0 + (Value.dot(q, keys[j]) * -scale).exp()) ** -1"
        " for j in range(visible)\n"
        "            ]\n",
    ),
    # --- causal_mask (more) ---------------------------------------------------
    Mutation(
        "mask_sees_next_position",
        "causal_mask",
        "The causal mask is off by one the other way: position i also sees position i + 1.",
        _VISIBLE,
        "            visible = min(i + 2, len(x)) if causal else len(x)\n",
    ),
    Mutation(
        "mask_future_scores_zero",
        "causal_mask",
        "The mask sets future scores to 0 instead of -inf, so future keys keep a weight.",
        _VISIBLE + _ATTN_WEIGHTS,
        "            visible = len(x)\n"
        "            weights = _softmax(\n"
        "                [\n"
        "                    Value.dot(q, keys[j]) * scale"
        " if j <= i or not causal else Value(0.0)\n"
        "                    for j in range(visible)\n"
        "                ]\n"
        "            )\n",
    ),
    Mutation(
        "mask_default_off",
        "causal_mask",
        "SelfAttention's causal flag defaults to False, so the model attends to the future.",
        "causal: bool = True",
        "causal: bool = False",
    ),
    Mutation(
        "block_attention_not_causal",
        "causal_mask",
        "TransformerBlock calls its attention with causal=False.",
        _BLOCK_ATTN,
        "        x = _add_rows(x, self.attn([self.ln1(row) for row in x], causal=False))\n",
    ),
    Mutation(
        "mask_first_position_only_sees_itself",
        "causal_mask",
        "The mask uses j < i, with max(i, 1) so position 0 does not crash: others miss themselves.",
        _VISIBLE,
        "            visible = max(i, 1) if causal else len(x)\n",
    ),
    # --- residual (more) ------------------------------------------------------
    Mutation(
        "attention_adds_residual",
        "residual",
        "SelfAttention adds its own residual and returns x + out.",
        "        return out\n",
        "        return _add_rows(x, out)\n",
    ),
    Mutation(
        "feedforward_adds_residual",
        "residual",
        "FeedForward adds its own residual and returns x + ff(x).",
        "        return result\n",
        "        return [r + xi for r, xi in zip(result, x, strict=True)]\n",
    ),
    Mutation(
        "feedforward_residual_missing",
        "residual",
        "The block returns the FeedForward output instead of adding it to x.",
        _BLOCK_FF,
        "        return [self.ff(self.ln2(row)) for row in x]\n",
    ),
    Mutation(
        "residual_ff_adds_normalised_x",
        "residual",
        "The FeedForward residual adds ln2(x) instead of the un-normalised x.",
        _BLOCK_FF,
        "        normed = [self.ln2(row) for row in x]\n"
        "        return _add_rows(normed, [self.ff(row) for row in normed])\n",
    ),
    # --- blocks ---------------------------------------------------------------
    Mutation(
        "blocks_not_chained",
        "blocks",
        "Every block is applied to the embeddings and only the last block's output is used.",
        _BLOCK_LOOP,
        "        out = x\n"
        "        for block in self.blocks:\n"
        "            out = block(x)\n"
        "        x = out\n",
    ),
    Mutation(
        "blocks_one_object_repeated",
        "blocks",
        "The blocks are [TransformerBlock(...)] * num_layers: one block object repeated.",
        _BLOCKS_INIT,
        "        self.blocks = [TransformerBlock(embed_dim, num_heads)] * num_layers\n",
    ),
    Mutation(
        "final_layernorm_missing",
        "blocks",
        "MiniGPT creates ln_final but never applies it: the head gets the last block's output.",
        _LOGITS,
        "        return [self.head(row) for row in x]\n",
    ),
    Mutation(
        "final_layernorm_in_loop",
        "blocks",
        "The final LayerNorm is applied inside the loop, after every block.",
        _BLOCK_LOOP + _LOGITS,
        "        for block in self.blocks:\n"
        "            x = [self.ln_final(row) for row in block(x)]\n"
        "        return [self.head(row) for row in x]\n",
    ),
    Mutation(
        "blocks_range_from_one",
        "blocks",
        "MiniGPT builds range(1, num_layers) blocks: one layer short.",
        _BLOCKS_INIT,
        _BLOCKS_INIT.replace("range(num_layers)", "range(1, num_layers)"),
    ),
    Mutation(
        "blocks_one_extra",
        "blocks",
        "MiniGPT builds num_layers + 1 blocks.",
        _BLOCKS_INIT,
        _BLOCKS_INIT.replace("range(num_layers)", "range(num_layers + 1)"),
    ),
    # --- positional (more) ----------------------------------------------------
    Mutation(
        "positions_reversed",
        "positional",
        "Positions are numbered from the end: token t gets position row T - 1 - t.",
        _POSITIONS,
        "            self.position_embedding(list(reversed(range(length)))),\n",
    ),
    Mutation(
        "positions_right_aligned",
        "positional",
        "Positions are aligned to the end of the context: rows max_seq_len - T .. max_seq_len - 1.",
        _POSITIONS,
        "            self.position_embedding(list(range(self.max_seq_len - length,"
        " self.max_seq_len))),\n",
    ),
    Mutation(
        "positions_all_zero",
        "positional",
        "Every token gets position row 0.",
        _POSITIONS,
        "            self.position_embedding([0] * length),\n",
    ),
    Mutation(
        "positions_start_at_one",
        "positional",
        "Positions are numbered 1..T, so a full-length input runs off the position table.",
        _POSITIONS,
        "            self.position_embedding(list(range(1, length + 1))),\n",
    ),
    Mutation(
        "tokens_not_embedded",
        "positional",
        "MiniGPT feeds only the position embeddings to the blocks: the tokens are never used.",
        "        x = _add_rows(\n"
        "            self.token_embedding(token_ids),\n" + _POSITIONS + "        )\n",
        "        x = self.position_embedding(list(range(length)))\n",
    ),
    # --- max_seq_len (more) ---------------------------------------------------
    Mutation(
        "forward_crops_silently",
        "max_seq_len",
        "MiniGPT.forward silently keeps the last max_seq_len tokens of a long input.",
        _LENGTH_RAISE,
        "        if length > self.max_seq_len:  # keep the most recent tokens\n"
        "            token_ids = token_ids[-self.max_seq_len :]\n"
        "            length = self.max_seq_len\n",
    ),
    # --- cross_entropy (more) -------------------------------------------------
    Mutation(
        "loss_log_of_unshifted_softmax",
        "cross_entropy",
        "cross_entropy_loss takes -log of a softmax without the max shift, which overflows.",
        _LOSS_ROW,
        "        exps = [z.exp() for z in row]\n"
        "        losses.append(-(exps[target] / Value.sum(exps)).log())\n",
    ),
    Mutation(
        "loss_mean_over_vocab",
        "cross_entropy",
        "cross_entropy_loss divides the summed losses by the vocabulary size, not by T.",
        _LOSS_MEAN,
        "    return Value.sum(losses) * (1.0 / len(logits[0]))\n",
    ),
    Mutation(
        "loss_target_index_minus_one",
        "cross_entropy",
        "cross_entropy_loss picks the logit of class target - 1.",
        _LOSS_APPEND,
        "        losses.append(log_sum_exp - row[target - 1])\n",
    ),
    Mutation(
        "loss_sign_flipped",
        "cross_entropy",
        "cross_entropy_loss returns the mean log-probability, not its negative.",
        _LOSS_APPEND,
        "        losses.append(row[target] - log_sum_exp)\n",
    ),
    Mutation(
        "loss_forgets_max_add_back",
        "cross_entropy",
        "cross_entropy_loss subtracts the row maximum before exp but never adds it back.",
        _LOG_SUM_EXP,
        "        log_sum_exp = Value.sum([(z - largest).exp() for z in row]).log()\n",
    ),
    Mutation(
        "loss_last_position_only",
        "cross_entropy",
        "cross_entropy_loss returns the loss of the last position only.",
        _LOSS_MEAN,
        "    return losses[-1]\n",
    ),
    Mutation(
        "loss_target_logit_as_float",
        "cross_entropy",
        "cross_entropy_loss subtracts row[target].data, so z[target] gets no gradient.",
        _LOSS_APPEND,
        "        losses.append(log_sum_exp - row[target].data)\n",
    ),
    # --- gradients (more) -----------------------------------------------------
    Mutation(
        "attention_scores_detached",
        "gradients",
        "The attention scores are re-wrapped as Value(score.data): query and key get no gradient.",
        _ATTN_WEIGHTS,
        "            scores = [Value(Value.dot(q, keys[j]).data * scale) for j in range(visible)]\n"
        "            weights = _softmax(scores)\n",
    ),
    Mutation(
        "layernorm_std_as_float",
        "gradients",
        "LayerNorm computes 1/sqrt(var + eps) from variance.data, a constant for backward.",
        _LN_INV_STD,
        "        inv_std = (variance.data + self.eps) ** -0.5\n",
    ),
    Mutation(
        "feedforward_relu_on_floats",
        "gradients",
        "FeedForward computes ReLU as Value(max(h.data, 0)), cutting the first layer off.",
        "        hidden: Vector = [h.relu() for h in self.hidden(x)]\n",
        "        hidden: Vector = [Value(max(h.data, 0.0)) for h in self.hidden(x)]\n",
    ),
    Mutation(
        "position_embeddings_detached",
        "gradients",
        "The position embeddings are added as Value(v.data) copies, so the table gets no gradient.",
        _POSITIONS,
        "            [[Value(v.data) for v in r]"
        " for r in self.position_embedding(list(range(length)))],\n",
    ),
    # --- parameters (more) ----------------------------------------------------
    Mutation(
        "parameters_tied_weight_twice",
        "parameters",
        "The head reuses the token table (weight tying), and MiniGPT.parameters() returns the "
        "embedding parameters plus the head's, so the tied table is listed twice.",
        _HEAD_INIT,
        _HEAD_INIT
        + "        self.head.weight = self.token_embedding.weight  # weight tying\n"
        + _MODEL_PARAMETERS_HEAD
        + "        return params + self.ln_final.parameters() + self.head.parameters()\n",
    ),
    Mutation(
        "parameters_forget_blocks",
        "parameters",
        "MiniGPT overrides parameters() and forgets the blocks.",
        _HEAD_INIT,
        _HEAD_INIT + "\n"
        "    def parameters(self) -> list[Value]:\n"
        "        return (\n"
        "            self.token_embedding.parameters()\n"
        "            + self.position_embedding.parameters()\n"
        "            + self.ln_final.parameters()\n"
        "            + self.head.parameters()\n"
        "        )\n",
    ),
    Mutation(
        "feedforward_parameters_weights_only",
        "parameters",
        "FeedForward overrides parameters() and returns the weight matrices without the biases.",
        "        self.output = Linear(hidden_dim, embed_dim)\n",
        "        self.output = Linear(hidden_dim, embed_dim)\n"
        "\n"
        "    def parameters(self) -> list[Value]:\n"
        "        return [w for layer in (self.hidden, self.output) for row in layer.weight"
        " for w in row]\n",
    ),
    Mutation(
        "forward_weight_decay",
        "parameters",
        "MiniGPT.forward shrinks every weight a little (weight decay) on each call.",
        "        length = len(token_ids)\n",
        "        for p in self.parameters():\n"
        "            p.data *= 1.0 - 1e-4  # weight decay\n"
        "        length = len(token_ids)\n",
    ),
    Mutation(
        "embedding_renormalised_in_place",
        "parameters",
        "Embedding.forward rescales each looked-up row to norm 1 in place (like max_norm=1).",
        _EMBED_RETURN,
        "        for i in set(indices):\n"
        "            norm = math.sqrt(sum(v.data**2 for v in self.weight[i]))\n"
        "            if norm > 1.0:\n"
        "                for v in self.weight[i]:\n"
        "                    v.data /= norm\n" + _EMBED_RETURN,
    ),
    # --- training -------------------------------------------------------------
    Mutation(
        "forward_caches_logits",
        "training",
        "MiniGPT.forward memoises its logits per input, so it ignores later weight updates.",
        "    def forward(self, token_ids: list[int]) -> list[list[Value]]:\n",
        "    def forward(self, token_ids: list[int], _cache: dict = {}) -> list[list[Value]]:\n"
        "        key = (id(self), tuple(token_ids))\n"
        "        if key not in _cache:\n"
        "            _cache[key] = self._logits(token_ids)\n"
        "        return _cache[key]\n"
        "\n"
        "    def _logits(self, token_ids: list[int]) -> list[list[Value]]:\n",
    ),
    # --- generate_output (more) -----------------------------------------------
    Mutation(
        "generate_one_token_extra",
        "generate_output",
        "generate samples max_new_tokens + 1 tokens.",
        _GEN_LOOP,
        "    for _ in range(max_new_tokens + 1):\n",
    ),
    Mutation(
        "generate_samples_probabilities",
        "generate_output",
        "generate draws from the list of probabilities itself and appends a float.",
        _GEN_SAMPLE,
        "        tokens.append(random.choices(probs, weights=probs)[0])\n",
    ),
    # --- generate_cropping (more) ---------------------------------------------
    Mutation(
        "crop_one_token_long",
        "generate_cropping",
        "generate crops the context to the last max_seq_len + 1 tokens.",
        _CONTEXT,
        "        context = tokens[-model.max_seq_len - 1 :]\n",
    ),
    Mutation(
        "crop_once_before_loop",
        "generate_cropping",
        "generate crops once before the loop, then appends to the context without re-cropping.",
        _GEN_BODY,
        "    context = tokens[-model.max_seq_len :]\n"
        + _GEN_LOOP
        + "        last = model(context)[-1]\n"
        + _GEN_PROBS
        + "        next_id = random.choices(range(len(probs)), weights=probs)[0]\n"
        "        tokens.append(next_id)\n"
        "        context.append(next_id)\n",
    ),
    Mutation(
        "crop_hardcoded_length",
        "generate_cropping",
        "generate crops to the last 8 tokens (the example's max_seq_len), not model.max_seq_len.",
        _CONTEXT,
        "        context = tokens[-8:]\n",
    ),
    # --- generate_sampling (more) ---------------------------------------------
    Mutation(
        "argmax_at_temperature_one",
        "generate_sampling",
        "generate takes the argmax at temperature 1 and samples only at other temperatures.",
        _GEN_SAMPLE,
        "        if temperature == 1.0:\n"
        "            tokens.append(probs.index(max(probs)))\n"
        "        else:\n"
        "    " + _GEN_SAMPLE,
    ),
    Mutation(
        "softmax_applied_twice",
        "generate_sampling",
        "generate applies a second softmax to the probabilities before sampling.",
        "        probs = [e / total for e in exps]\n",
        "        probs = [e / total for e in exps]\n"
        "        again = [math.exp(p) for p in probs]\n"
        "        probs = [a / sum(again) for a in again]\n",
    ),
    Mutation(
        "generate_reseeds_random",
        "generate_sampling",
        "generate calls random.seed(0) first, so every call gives the same tokens.",
        "    tokens = list(start_ids)\n",
        "    random.seed(0)  # reproducible generations\n    tokens = list(start_ids)\n",
    ),
    # --- generate_temperature (more) ------------------------------------------
    Mutation(
        "temperature_clamped_below",
        "generate_temperature",
        "generate clamps the temperature to at least 0.5 before dividing.",
        _GEN_SCALED,
        "        temperature = max(temperature, 0.5)  # avoid dividing by a tiny number\n"
        + _GEN_SCALED,
    ),
    Mutation(
        "temperature_clamped_above",
        "generate_temperature",
        "generate clamps the temperature to at most 1.0.",
        _GEN_SCALED,
        "        scaled = [z.data / min(temperature, 1.0) for z in last]\n",
    ),
    Mutation(
        "temperature_ignored",
        "generate_temperature",
        "generate never uses the temperature.",
        _GEN_SCALED,
        "        scaled = [z.data for z in last]\n",
    ),
    # =========================================================================
    # Single bugs of issue 21 and more, on the reference. Each names the check
    # whose concept it breaks (where the check observes it by effect).
    # --- attention (issue 21) ------------------------------------------------
    Mutation(
        "attention_softmax_no_max_subtraction",
        "attention",
        "The attention softmax exponentiates the raw scores without subtracting the row's "
        "maximum, so large scores overflow.",
        _SOFTMAX_EXPS,
        "    exps = [s.exp() for s in scores]\n",
    ),
    Mutation(
        "attention_exp_before_max_subtraction",
        "attention",
        "The attention softmax computes exp(s) - max instead of exp(s - max): the weights still "
        "sum to one but are not a softmax (they can be negative), and large scores overflow.",
        _SOFTMAX_EXPS,
        "    exps = [s.exp() - largest for s in scores]\n",
    ),
    Mutation(
        "attention_softmax_without_exp",
        "attention",
        "The attention 'softmax' forgets the exp and divides the scores by their sum: the "
        "weights sum to one but are not a softmax (they can be negative, and scaling every "
        "score leaves them unchanged).",
        _SOFTMAX_BODY,
        "    inv_total = Value.sum(scores) ** -1\n    return [s * inv_total for s in scores]\n",
    ),
    Mutation(
        "attention_values_from_key_projection",
        "attention",
        "The values are computed with the key projection; the value Linear is never used.",
        _ATTN_VALUES,
        "        values: Matrix = [self.key(row) for row in x]\n",
    ),
    Mutation(
        "attention_shared_qkv_linear",
        "attention",
        "SelfAttention builds one Linear and uses it as query, key and value projection.",
        "        self.query = Linear(embed_dim, embed_dim, bias=False)\n"
        "        self.key = Linear(embed_dim, embed_dim, bias=False)\n"
        "        self.value = Linear(embed_dim, embed_dim, bias=False)\n",
        "        self.query = self.key = self.value = Linear(embed_dim, embed_dim, bias=False)\n",
    ),
    Mutation(
        "attention_keys_from_query_projection",
        "attention",
        "The keys are computed with the query projection (scores q_i . q_j); the key Linear is "
        "never used.",
        "        keys: Matrix = [self.key(row) for row in x]\n",
        "        keys: Matrix = [self.query(row) for row in x]\n",
    ),
    Mutation(
        "attention_mixes_inputs_not_values",
        "attention",
        "Attention takes the weighted sum of the input rows instead of the value vectors: the "
        "value projection is computed and never used.",
        "        value_columns = list(zip(*values, strict=True))  # D columns of T Values each\n",
        "        value_columns = list(zip(*x, strict=True))  # D columns of T Values each\n",
    ),
    Mutation(
        "attention_mixes_with_raw_scores",
        "attention",
        "Attention computes the softmax weights but takes the weighted sum of the values with "
        "the raw scores.",
        _ATTN_WEIGHTS + _MIXED,
        "            scores = [Value.dot(q, keys[j]) * scale for j in range(visible)]\n"
        "            weights = _softmax(scores)\n"
        "            mixed = [Value.dot(scores, column[:visible]) for column in value_columns]\n",
    ),
    # --- feedforward (issue 21) ----------------------------------------------
    Mutation(
        "feedforward_relu_after_both_layers",
        "feedforward",
        "FeedForward applies ReLU after each of its two Linear layers, so its output is never "
        "negative.",
        _FF_FORWARD,
        "        hidden: Vector = [h.relu() for h in self.hidden(x)]\n"
        "        result: Vector = [r.relu() for r in self.output(hidden)]\n",
    ),
    Mutation(
        "feedforward_activated_list_unused",
        "feedforward",
        "FeedForward computes the ReLU of the hidden layer into a new list but feeds the "
        "pre-activations to the second Linear: the layer is affine.",
        _FF_FORWARD,
        "        hidden: Vector = self.hidden(x)\n"
        "        activated: Vector = [h.relu() for h in hidden]\n"
        "        result: Vector = self.output(hidden)\n",
    ),
    # --- parameters (issue 21) -----------------------------------------------
    Mutation(
        "dropout_left_on",
        "parameters",
        "FeedForward applies dropout (p = 0.1, scaled by 1/0.9) to its hidden units on every "
        "call: forward is random, not a function of the weights and the input.",
        _FF_HIDDEN,
        _FF_HIDDEN + "        hidden = [h * (1.0 / 0.9) if random.random() > 0.1 else h * 0.0"
        " for h in hidden]  # dropout\n",
    ),
    Mutation(
        "head_linear_local_in_forward",
        "parameters",
        "MiniGPT.forward builds its output Linear as a local variable on every call: the logits "
        "come from fresh random weights that parameters() never lists.",
        _LOGITS,
        "        head = Linear(len(x[0]), self.vocab_size)  # the output projection\n"
        "        return [head(self.ln_final(row)) for row in x]\n",
    ),
    Mutation(
        "attention_proj_rebuilt_in_forward",
        "parameters",
        "SelfAttention.forward re-creates its output projection on every call, so its weights "
        "are new random numbers each time.",
        "        queries: Matrix = [self.query(row) for row in x]\n",
        "        self.proj = Linear(self.embed_dim, self.embed_dim)\n"
        "        queries: Matrix = [self.query(row) for row in x]\n",
    ),
    Mutation(
        "block_parameters_forget_layernorms",
        "parameters",
        "TransformerBlock overrides parameters() with its attention and feed-forward weights "
        "and forgets the gains and biases of its two LayerNorms.",
        "        self.ff = FeedForward(embed_dim)\n",
        "        self.ff = FeedForward(embed_dim)\n"
        "\n"
        "    def parameters(self) -> list[Value]:\n"
        "        return self.attn.parameters() + self.ff.parameters()\n",
    ),
    Mutation(
        "parameters_head_listed_twice",
        "parameters",
        "MiniGPT.parameters() adds the head's parameters to Module's list, which already holds "
        "them: every head weight is listed twice.",
        _HEAD_INIT,
        _HEAD_INIT + "\n"
        "    def parameters(self) -> list[Value]:\n"
        "        return super().parameters() + self.head.parameters()\n",
    ),
    # --- positional (issue 21) -----------------------------------------------
    Mutation(
        "positions_from_token_table",
        "positional",
        "The position vectors are looked up in the token table (its rows 0..T-1); the position "
        "table is never used.",
        _POSITIONS,
        "            self.token_embedding(list(range(length))),\n",
    ),
    Mutation(
        "position_table_vocab_rows",
        "max_seq_len",
        "The position table is built with vocab_size rows instead of max_seq_len.",
        _POSITION_TABLE,
        "        self.position_embedding = Embedding(vocab_size, embed_dim)\n",
    ),
    Mutation(
        "positions_added_after_blocks",
        "positional",
        "The position embeddings are added after the blocks, just before the final LayerNorm: "
        "attention never sees the positions.",
        "        x = _add_rows(\n"
        "            self.token_embedding(token_ids),\n" + _POSITIONS + "        )\n" + _BLOCK_LOOP,
        "        x = self.token_embedding(token_ids)\n"
        + _BLOCK_LOOP
        + "        x = _add_rows(x, self.position_embedding(list(range(length))))\n",
    ),
    # --- max_seq_len ---------------------------------------------------------
    Mutation(
        "position_table_one_row_short",
        "max_seq_len",
        "The position table has max_seq_len - 1 rows, so a sequence of exactly max_seq_len "
        "tokens fails.",
        _POSITION_TABLE,
        "        self.position_embedding = Embedding(max_seq_len - 1, embed_dim)\n",
    ),
    Mutation(
        "length_checked_against_vocab_size",
        "max_seq_len",
        "forward compares the length with vocab_size instead of max_seq_len: with a vocabulary "
        "smaller than max_seq_len, valid lengths are refused.",
        _LENGTH_CHECK,
        "        if length > self.vocab_size:\n",
    ),
    # --- residual (issue 21) -------------------------------------------------
    Mutation(
        "parallel_block",
        "residual",
        "The block runs its two branches in parallel on the same input: "
        "x + attn(ln1(x)) + ff(ln2(x)), instead of feeding x + attn(ln1(x)) to the second.",
        _BLOCK_BODY,
        "        attended = self.attn([self.ln1(row) for row in x])\n"
        "        fed = [self.ff(self.ln2(row)) for row in x]\n"
        "        return _add_rows(_add_rows(x, attended), fed)\n",
    ),
    Mutation(
        "second_residual_from_block_input",
        "residual",
        "The feed-forward branch reads x + attention, but its output is added to the block's "
        "input x instead of to x + attention.",
        _BLOCK_BODY,
        "        h = _add_rows(x, self.attn([self.ln1(row) for row in x]))\n"
        "        return _add_rows(x, [self.ff(self.ln2(row)) for row in h])\n",
    ),
    Mutation(
        "attention_branch_without_layernorm",
        "residual",
        "The attention branch reads x itself: ln1 is never applied.",
        _BLOCK_ATTN,
        "        x = _add_rows(x, self.attn(x))\n",
    ),
    Mutation(
        "feedforward_branch_without_layernorm",
        "residual",
        "The feed-forward branch reads x itself: ln2 is never applied.",
        _BLOCK_FF,
        "        return _add_rows(x, [self.ff(row) for row in x])\n",
    ),
    Mutation(
        "block_same_norm_twice",
        "residual",
        "Both branches of the block are normalised by ln1; ln2 is built but never applied.",
        _BLOCK_FF,
        "        return _add_rows(x, [self.ff(self.ln1(row)) for row in x])\n",
    ),
    Mutation(
        "residual_ff_on_attention_output",
        "residual",
        "The feed-forward branch reads the attention output instead of the residual stream "
        "x + attention.",
        _BLOCK_BODY,
        "        attended = self.attn([self.ln1(row) for row in x])\n"
        "        x = _add_rows(x, attended)\n"
        "        return _add_rows(x, [self.ff(self.ln2(row)) for row in attended])\n",
    ),
    # --- blocks (issue 21) ---------------------------------------------------
    Mutation(
        "final_layernorm_before_blocks",
        "blocks",
        "The final LayerNorm is applied to the embeddings, before the blocks, instead of after "
        "the last block.",
        _BLOCK_LOOP + _LOGITS,
        "        x = [self.ln_final(row) for row in x]\n"
        + _BLOCK_LOOP
        + "        return [self.head(row) for row in x]\n",
    ),
    Mutation(
        "final_layernorm_result_discarded",
        "blocks",
        "The final LayerNorm is computed into a list that is never used: the head reads the "
        "last block's output.",
        _LOGITS,
        "        normed = [self.ln_final(row) for row in x]\n"
        "        return [self.head(row) for row in x]\n",
    ),
    Mutation(
        "blocks_last_one_skipped",
        "blocks",
        "The loop runs over self.blocks[:-1]: the last block is built but never applied.",
        _BLOCK_LOOP,
        "        for block in self.blocks[:-1]:\n            x = block(x)\n",
    ),
    Mutation(
        "blocks_extra_residual",
        "blocks",
        "MiniGPT adds a residual around each whole block (x = x + block(x)), on top of the "
        "block's own residuals.",
        _BLOCK_LOOP,
        "        for block in self.blocks:\n            x = _add_rows(x, block(x))\n",
    ),
    # --- shapes (issue 21) ---------------------------------------------------
    Mutation(
        "head_outputs_embed_dim",
        "shapes",
        "The output layer maps to embed_dim instead of vocab_size: logits of shape (T, D).",
        _HEAD_INIT,
        "        self.head = Linear(embed_dim, embed_dim)\n",
    ),
    Mutation(
        "logits_transposed",
        "shapes",
        "MiniGPT.forward returns the logits transposed, a (V, T) list.",
        _LOGITS,
        "        logits = [self.head(self.ln_final(row)) for row in x]\n"
        "        return [list(column) for column in zip(*logits)]  # (V, T)\n",
    ),
    Mutation(
        "embedding_squeezes_single_index",
        "shapes",
        "Embedding returns a bare row of D Values, not a (1, D) list, when given one index.",
        _EMBED_RETURN,
        "        if len(indices) == 1:\n"
        "            return list(self.weight[indices[0]])  # a single row\n" + _EMBED_RETURN,
    ),
    # --- embedding -----------------------------------------------------------
    Mutation(
        "embedding_shared_row_object",
        "embedding",
        "The Embedding table is [row] * num_embeddings: every index shares one row object.",
        "        self.weight: Matrix = [\n" + _EMBED_TABLE + "        ]\n",
        "        self.weight: Matrix = [\n"
        "            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]\n"
        "        ] * num_embeddings\n",
    ),
    Mutation(
        "embedding_scaled_by_sqrt_dim",
        "embedding",
        "Embedding multiplies the rows it looks up by sqrt(D), as the Transformer paper does "
        "before adding positions: the output is not the table's rows.",
        _EMBED_RETURN,
        "        return [[v * math.sqrt(self.embedding_dim) for v in self.weight[i]]"
        " for i in indices]\n",
    ),
    # --- layernorm -----------------------------------------------------------
    Mutation(
        "layernorm_gain_bias_swapped",
        "layernorm",
        "LayerNorm zips gain and bias in the wrong order: it multiplies by the bias and adds "
        "the gain.",
        "zip(centred, self.gain, self.bias, strict=True)",
        "zip(centred, self.bias, self.gain, strict=True)",
    ),
    Mutation(
        "layernorm_multiplies_by_std",
        "layernorm",
        "LayerNorm multiplies the centred values by sqrt(var + eps) instead of dividing.",
        _LN_INV_STD,
        "        inv_std = (variance + self.eps) ** 0.5\n",
    ),
    Mutation(
        "layernorm_eps_added_to_inverse",
        "layernorm",
        "LayerNorm adds eps to 1/sqrt(var) instead of to var, so a constant vector divides by "
        "zero.",
        _LN_INV_STD,
        "        inv_std = variance**-0.5 + self.eps\n",
    ),
    # --- causal_mask ---------------------------------------------------------
    Mutation(
        "mask_flag_inverted",
        "causal_mask",
        "The causal flag is read backwards: causal=True attends to every position and "
        "causal=False masks the future.",
        _VISIBLE,
        "            visible = len(x) if causal else i + 1\n",
    ),
    # --- cross_entropy -------------------------------------------------------
    Mutation(
        "loss_adds_target_logit",
        "cross_entropy",
        "cross_entropy_loss adds the target's logit to logsumexp instead of subtracting it.",
        _LOSS_APPEND,
        "        losses.append(log_sum_exp + row[target])\n",
    ),
    Mutation(
        "loss_skips_first_position",
        "cross_entropy",
        "cross_entropy_loss leaves out the first position (it has no context) and averages the "
        "others.",
        "    for row, target in zip(logits, targets",
        "    for row, target in zip(logits[1:], targets[1:]",
    ),
    Mutation(
        "loss_exp_of_flipped_difference",
        "cross_entropy",
        "cross_entropy_loss exponentiates max - z instead of z - max.",
        _LOG_SUM_EXP,
        "        log_sum_exp = Value.sum([(largest - z).exp() for z in row]).log() + largest\n",
    ),
    # --- gradients -----------------------------------------------------------
    Mutation(
        "layernorm_gain_used_as_float",
        "gradients",
        "LayerNorm multiplies by gain.data: the gains change the output but never get a gradient.",
        "c * inv_std * g + b",
        "c * inv_std * g.data + b",
    ),
    Mutation(
        "attention_values_detached",
        "gradients",
        "The value vectors are re-wrapped as Value(v.data): the value projection and everything "
        "before it get no gradient through them.",
        _ATTN_VALUES,
        "        values: Matrix = [[Value(v.data) for v in self.value(row)] for row in x]\n",
    ),
    # --- generate_output -----------------------------------------------------
    Mutation(
        "generate_includes_start_twice",
        "generate_output",
        "generate returns start_ids followed by the whole token list, so the start appears twice.",
        "    return tokens\n",
        "    return list(start_ids) + tokens\n",
    ),
    Mutation(
        "generate_ids_shifted_by_one",
        "generate_output",
        "generate draws ids from 1..V instead of 0..V-1.",
        _GEN_SAMPLE,
        "        tokens.append(random.choices(range(1, len(probs) + 1), weights=probs)[0])\n",
    ),
    Mutation(
        "generate_returns_window_only",
        "generate_output",
        "generate returns only the last max_seq_len tokens, dropping the start of a long prompt.",
        "    return tokens\n",
        "    return tokens[-model.max_seq_len :]\n",
    ),
    # --- generate_cropping ---------------------------------------------------
    Mutation(
        "crop_with_vocab_size",
        "generate_cropping",
        "generate crops the context to the last vocab_size tokens instead of max_seq_len.",
        _CONTEXT,
        "        context = tokens[-model.vocab_size :]\n",
    ),
    Mutation(
        "crop_drops_newest_token",
        "generate_cropping",
        "generate's slice ends at -1: the model never sees the newest token.",
        _CONTEXT,
        "        context = tokens[-model.max_seq_len - 1 : -1]\n",
    ),
    # --- generate_sampling (issue 21) ----------------------------------------
    Mutation(
        "nucleus_sampling_by_default",
        "generate_sampling",
        "generate always samples from the smallest set of likeliest tokens holding 90% of the "
        "probability (top-p 0.9), not from the whole softmax.",
        _GEN_SAMPLE,
        "        order = sorted(range(len(probs)), key=lambda k: -probs[k])\n"
        "        kept, mass = [], 0.0\n"
        "        for k in order:  # nucleus (top-p = 0.9) sampling\n"
        "            kept.append(k)\n"
        "            mass += probs[k]\n"
        "            if mass >= 0.9:\n"
        "                break\n"
        "        tokens.append(random.choices(kept, weights=[probs[k] for k in kept])[0])\n",
    ),
    Mutation(
        "sample_logits_as_weights",
        "generate_sampling",
        "generate passes the scaled logits, not the probabilities, as the sampling weights.",
        _GEN_SAMPLE,
        "        tokens.append(random.choices(range(len(probs)), weights=scaled)[0])\n",
    ),
    # --- generate_temperature (issue 21) -------------------------------------
    Mutation(
        "generate_softmax_no_max_subtraction",
        "generate_temperature",
        "generate exponentiates the scaled logits without subtracting their maximum: at a low "
        "temperature math.exp overflows.",
        "        exps = [math.exp(s - largest) for s in scaled]\n",
        "        exps = [math.exp(s) for s in scaled]\n",
    ),
    # =========================================================================
    # Bugs a student writing in another correct style makes: each applies to
    # the correct solution named as its base.
    # --- correct_norm_base_class.py: LayerNorm inherits forward; a cached scale
    Mutation(
        "inherited_norm_final_norm_missing",
        "blocks",
        "No final LayerNorm: the head reads the last block's output (LayerNorm inherits its "
        "forward from a base class, Normalization).",
        "        return [self.head(r) for r in self.ln_f.over(x)]\n",
        "        return [self.head(r) for r in x]\n",
        base="correct_norm_base_class.py",
    ),
    Mutation(
        "inherited_norm_ff_branch_unnormalised",
        "residual",
        "The feed-forward branch reads x itself: ln2 (whose forward is inherited) is never "
        "applied.",
        "        f = self.ff.over(self.ln2.over(x))\n",
        "        f = self.ff.over(x)\n",
        base="correct_norm_base_class.py",
    ),
    Mutation(
        "layernorm_inherits_rms_behaviour",
        "layernorm",
        "LayerNorm subclasses RMSNorm instead of Normalization, so it inherits centre = False "
        "and never subtracts the mean.",
        "class LayerNorm(Normalization):\n",
        "class LayerNorm(RMSNorm):\n",
        base="correct_norm_base_class.py",
    ),
    Mutation(
        "memo_scale_from_seq_len",
        "attention",
        "The cached attention scale is computed from len(x), the number of rows, instead of the "
        "row width: the first call's length fixes the scale of every later call in the process, "
        "so the scale depends on the sequence length of whichever call came first.",
        "            _SCALES[width] = 1.0 / math.sqrt(width)\n",
        "            _SCALES[width] = 1.0 / math.sqrt(len(x))\n",
        base="correct_norm_base_class.py",
    ),
    # --- correct_wrapped_weights.py: Matrix objects, __slots__, dicts ---------
    Mutation(
        "slots_weights_left_out",
        "parameters",
        "Dense keeps W and b in __slots__ and relies on Module.parameters(), whose walk only "
        "sees the instance dict: no Dense weight or bias is listed.",
        "        return [a + b for a, b in zip(y, self.bias, strict=True)] if self.bias else y\n"
        "\n"
        "    def parameters(self) -> list[Value]:\n"
        "        return self.weight.values() + self.bias\n",
        "        return [a + b for a, b in zip(y, self.bias, strict=True)] if self.bias else y\n",
        base="correct_wrapped_weights.py",
    ),
    Mutation(
        "wrapper_weights_left_out",
        "parameters",
        "Embedding keeps its table in a Matrix object (not a Module) and relies on "
        "Module.parameters(), which does not look inside plain objects: neither table is "
        "listed.",
        "        return [self.table.rows[i] for i in indices]\n"
        "\n"
        "    def parameters(self) -> list[Value]:\n"
        "        return self.table.values()\n",
        "        return [self.table.rows[i] for i in indices]\n",
        base="correct_wrapped_weights.py",
    ),
    Mutation(
        "dense_parameters_forget_matrix",
        "parameters",
        "Dense.parameters() lists the bias and forgets the weight matrix held in its Matrix "
        "object.",
        "        return self.weight.values() + self.bias\n",
        "        return list(self.bias)\n",
        base="correct_wrapped_weights.py",
    ),
    Mutation(
        "dict_tables_left_out",
        "parameters",
        "MiniGPT.parameters() lists the blocks, the final norm and the head but not the two "
        "embedding tables it keeps as dict values.",
        "        for table in self.tables.values():\n            params += table.parameters()\n",
        "",
        base="correct_wrapped_weights.py",
    ),
    Mutation(
        "values_from_key_layer_typo",
        "attention",
        "The projection names are iterated as 'qkk': the values are computed with the key "
        "layer and the value layer is never used.",
        '        q, k, v = ([self.proj[name](r) for r in x] for name in "qkv")\n',
        '        q, k, v = ([self.proj[name](r) for r in x] for name in "qkk")\n',
        base="correct_wrapped_weights.py",
    ),
    # --- correct_gelu_nobias.py ----------------------------------------------
    Mutation(
        "block_parameters_forget_feedforward",
        "parameters",
        "TransformerBlock.parameters() returns the attention's weights only; the feed-forward "
        "layers are left out.",
        "        return self.attn.parameters() + self.ff.parameters()\n",
        "        return self.attn.parameters()\n",
        base="correct_gelu_nobias.py",
    ),
    Mutation(
        "sampler_compares_before_adding",
        "generate_sampling",
        "The inverse-CDF sampler compares r with the running sum before adding p_i: token i is "
        "drawn with the probability of token i - 1.",
        "        cumulative += p\n        if r < cumulative:\n            return i\n",
        "        if r < cumulative:\n            return i\n        cumulative += p\n",
        base="correct_gelu_nobias.py",
    ),
    Mutation(
        "layernorm_scales_uncentred_x",
        "layernorm",
        "LayerNorm computes the variance of the centred values but scales the uncentred x.",
        "        return [c * inv_std for c in centred]\n",
        "        return [v * inv_std for v in x]\n",
        base="correct_gelu_nobias.py",
    ),
    # --- correct_naive.py ----------------------------------------------------
    Mutation(
        "relu_from_data",
        "gradients",
        "FeedForward computes ReLU as a new Value built from h.data: the first layer, and "
        "everything before it, gets no gradient through the feed-forward branch.",
        "        hidden = [h.relu() for h in hidden]\n",
        "        hidden = [Value(max(0.0, h.data)) for h in hidden]\n",
        base="correct_naive.py",
    ),
    Mutation(
        "masked_score_zero",
        "causal_mask",
        "Future scores are set to 0 instead of a large negative number, so future keys keep a "
        "weight.",
        "                    scores.append(Value(-1e9))\n",
        "                    scores.append(Value(0.0))\n",
        base="correct_naive.py",
    ),
    Mutation(
        "parameters_forget_output_bias",
        "parameters",
        "MiniGPT.parameters() lists the output weights but forgets the output bias b_out.",
        "        params += flatten(self.w_out) + self.b_out\n",
        "        params += flatten(self.w_out)\n",
        base="correct_naive.py",
    ),
    Mutation(
        "second_residual_added_to_input_row",
        "residual",
        "The feed-forward output is added to the block's input row x[i] instead of to "
        "x + attention (which the branch reads).",
        "        for row in x2:\n"
        "            out.append(add_vectors(row, self.ff(self.ln2(row))))\n",
        "        for i, row in enumerate(x2):\n"
        "            out.append(add_vectors(x[i], self.ff(self.ln2(row))))\n",
        base="correct_naive.py",
    ),
    # --- correct_dataclass_match.py ------------------------------------------
    Mutation(
        "tied_head_uses_position_table",
        "shapes",
        "The tied output layer reuses the position table instead of the token table: one logit "
        "per position row, not per token.",
        "        self.output_weight: Matrix = self.token_embedding.table\n",
        "        self.output_weight: Matrix = self.position_embedding.table\n",
        base="correct_dataclass_match.py",
    ),
    Mutation(
        "log_softmax_adds_log_total",
        "cross_entropy",
        "log_softmax adds log(sum(exp)) instead of subtracting it.",
        "    return [(z - peak) - log_total for z in zs]\n",
        "    return [(z - peak) + log_total for z in zs]\n",
        base="correct_dataclass_match.py",
    ),
    # --- correct_tanh_tied.py ------------------------------------------------
    Mutation(
        "assert_rejects_full_context",
        "max_seq_len",
        "The length assert uses < instead of <=: T == max_seq_len is refused.",
        "        assert len(token_ids) <= self.max_seq_len,",
        "        assert len(token_ids) < self.max_seq_len,",
        base="correct_tanh_tied.py",
    ),
    Mutation(
        "float_softmax_unshifted",
        "generate_temperature",
        "The float softmax generate uses exponentiates without subtracting the maximum: at a "
        "low temperature math.exp overflows.",
        "    exps = [math.exp(x - shift) for x in xs]\n",
        "    exps = [math.exp(x) for x in xs]\n",
        base="correct_tanh_tied.py",
    ),
    Mutation(
        "hidden_dim_multiplied_by_four",
        "feedforward",
        "FeedForward's hidden size is 4 * (hidden_dim or embed_dim): a given hidden_dim is "
        "multiplied by 4.",
        "        hidden = hidden_dim or 4 * embed_dim\n",
        "        hidden = 4 * (hidden_dim or embed_dim)\n",
        base="correct_tanh_tied.py",
    ),
    # --- correct_mingpt_zero_pos.py ------------------------------------------
    Mutation(
        "top_k_on_by_default",
        "generate_sampling",
        "generate's top_k defaults to 10, so by default it never samples outside the 10 "
        "likeliest tokens.",
        "def generate(model, start_ids, max_new_tokens, temperature=1.0, top_k=None):\n",
        "def generate(model, start_ids, max_new_tokens, temperature=1.0, top_k=10):\n",
        base="correct_mingpt_zero_pos.py",
    ),
    Mutation(
        "mask_zeroes_weights_after_softmax",
        "attention",
        "The causal mask zeroes the future weights after the softmax without renormalising: "
        "each row's weights sum to less than one.",
        "        if causal:\n"
        "            att = [\n"
        "                [a + m for a, m in zip(row, mrow, strict=True)]\n"
        "                for row, mrow in zip(att, causal_mask(t), strict=True)\n"
        "            ]\n"
        "        att = softmax_rows(att)\n",
        "        att = softmax_rows(att)\n"
        "        if causal:  # zero the future weights\n"
        "            att = [\n"
        "                [a * (1.0 if m == 0.0 else 0.0) for a, m in zip(row, mrow, strict=True)]\n"
        "                for row, mrow in zip(att, causal_mask(t), strict=True)\n"
        "            ]\n",
        base="correct_mingpt_zero_pos.py",
    ),
    Mutation(
        "mask_matrix_transposed",
        "causal_mask",
        "causal_mask(t) builds the transposed matrix: row i masks the keys j < i, so a position "
        "sees itself and the future.",
        "    return [[0.0 if j <= i else NEG_INF for j in range(t)] for i in range(t)]\n",
        "    return [[0.0 if j <= i else NEG_INF for i in range(t)] for j in range(t)]\n",
        base="correct_mingpt_zero_pos.py",
    ),
    # --- correct_float_softmax.py --------------------------------------------
    Mutation(
        "bisect_threshold_not_scaled",
        "generate_sampling",
        "generate bisects the unnormalised cumulative weights with r in [0, 1), forgetting to "
        "scale r by their total: the first tokens are drawn far too often.",
        "        r = random.random() * cumulative[-1]\n",
        "        r = random.random()\n",
        base="correct_float_softmax.py",
    ),
    Mutation(
        "inline_attention_softmax_unshifted",
        "attention",
        "The inline attention softmax exponentiates the raw scores without subtracting the "
        "row's maximum, so large scores overflow.",
        "            e = [(s - top).exp() for s in scores]\n",
        "            e = [s.exp() for s in scores]\n",
        base="correct_float_softmax.py",
    ),
    Mutation(
        "layernorm_forgets_square_root",
        "layernorm",
        "LayerNorm divides by var + eps, forgetting the square root.",
        "        denom = (var + self.eps) ** 0.5\n",
        "        denom = var + self.eps\n",
        base="correct_float_softmax.py",
    ),
    # --- correct_gpt2_init.py ------------------------------------------------
    Mutation(
        "fused_qkv_values_take_key_slice",
        "attention",
        "The fused c_attn output is split with the wrong slice for the values: v is the key "
        "slice, so the value third of c_attn is never used.",
        "            v.append(qkv[2 * d :])\n",
        "            v.append(qkv[d : 2 * d])\n",
        base="correct_gpt2_init.py",
    ),
    Mutation(
        "attention_dropout_left_on",
        "parameters",
        "Attention applies dropout (p = 0.1, scaled by 1/0.9) to its weights on every call: "
        "forward is random, not a function of the weights and the input.",
        "            att = [a * norm for a in att]\n",
        "            att = [a * norm * (0.0 if random.random() < 0.1 else 1.0 / 0.9)"
        " for a in att]  # attn_pdrop\n",
        base="correct_gpt2_init.py",
    ),
    Mutation(
        "positions_from_wte",
        "positional",
        "The position vectors are looked up in wte, the token table, instead of wpe.",
        "        pos_emb = self.wpe(list(range(t)))\n",
        "        pos_emb = self.wte(list(range(t)))\n",
        base="correct_gpt2_init.py",
    ),
    # --- correct_lesson_loss.py / correct_relu_reordered.py ------------------
    Mutation(
        "sampler_running_sum_reset",
        "generate_sampling",
        "The hand-written sampler sets running = p instead of running += p: it returns the "
        "first token whose own probability exceeds r.",
        "        running += p\n",
        "        running = p\n",
        base="correct_lesson_loss.py",
    ),
    Mutation(
        "manual_layernorm_sample_variance",
        "layernorm",
        "The hand-written LayerNorm divides the summed squared deviations by n - 1.",
        "        var = var / n\n",
        "        var = var / (n - 1)\n",
        base="correct_relu_reordered.py",
    ),
    Mutation(
        "manual_mix_skips_last_key",
        "attention",
        "The hand-written weighted sum stops one key early: the last visible value is left "
        "out, so the weights used sum to less than one.",
        "                for j in range(1, len(w)):\n",
        "                for j in range(1, len(w) - 1):\n",
        base="correct_relu_reordered.py",
    ),
    # --- correct_constant_value.py -------------------------------------------
    Mutation(
        "attention_parameters_forget_out_proj",
        "parameters",
        "SelfAttention.parameters() (written to leave the constant scale out) forgets the "
        "output projection too.",
        "        for layer in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):\n",
        "        for layer in (self.q_proj, self.k_proj, self.v_proj):\n",
        base="correct_constant_value.py",
    ),
    # --- correct_no_proj_assert.py -------------------------------------------
    Mutation(
        "loss_forgets_shift_plain_loop",
        "cross_entropy",
        "The loss subtracts the maximum inside the exponentials but never adds it back to "
        "log(sum).",
        "        loss = loss + (s.log() + m - z[y])\n",
        "        loss = loss + (s.log() - z[y])\n",
        base="correct_no_proj_assert.py",
    ),
    # --- correct_validating_generate.py --------------------------------------
    Mutation(
        "generate_rejects_zero_new_tokens",
        "generate_output",
        "generate validates max_new_tokens >= 1, so asking for 0 new tokens raises.",
        '    steps = _require_int("max_new_tokens", max_new_tokens, 0)\n',
        '    steps = _require_int("max_new_tokens", max_new_tokens, 1)\n',
        base="correct_validating_generate.py",
    ),
    Mutation(
        "masked_score_tiny_positive",
        "causal_mask",
        "The masked score is written 1e-9 instead of -1e9: future keys get an ordinary weight.",
        "MASKED_SCORE = -1e9\n",
        "MASKED_SCORE = 1e-9\n",
        base="correct_validating_generate.py",
    ),
    Mutation(
        "temperature_rejects_above_one",
        "generate_temperature",
        "generate refuses temperatures above 1 (ValueError), so a high temperature cannot "
        "flatten the distribution.",
        "    if not temperature > 0 or math.isinf(temperature):\n",
        "    if not 0 < temperature <= 1:\n",
        base="correct_validating_generate.py",
    ),
)
