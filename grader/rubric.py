"""The rubric: check ids, titles, points and the concept each one teaches.

The ids are part of the JSON contract (course platforms key gradebooks on
them), so they never change meaning; add new ids rather than repurposing old
ones.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    points: float
    hint: str


CHECKS: tuple[Check, ...] = (
    Check(
        "shapes",
        "Every component returns the documented shape",
        4,
        "Embedding gives (T, D), LayerNorm and FeedForward (D,), SelfAttention and "
        "TransformerBlock (T, D), MiniGPT (T, V): lists of Value, one row per position.",
    ),
    Check(
        "embedding",
        "Embedding is a lookup table with gradients",
        5,
        "Keep one row of D Values per index and return those very Value objects, so "
        "backward reaches the rows that were used.",
    ),
    Check(
        "layernorm",
        "LayerNorm normalises with population variance",
        6,
        "Use (x - mean) / sqrt(var + eps) with var = mean((x - mean)^2) (divide by D, "
        "not D - 1) and eps inside the square root.",
    ),
    Check(
        "feedforward",
        "FeedForward: two linear layers with an activation",
        5,
        "hidden_dim defaults to 4 * embed_dim; put a non-linearity (ReLU, GELU or tanh) "
        "between the two Linear layers.",
    ),
    Check(
        "attention",
        "Attention weights sum to one",
        6,
        "Softmax each query's scores over the keys it may see (one row of the score "
        "matrix), subtracting the row's max for stability.",
    ),
    Check(
        "causal_mask",
        "Causal mask: no position sees the future",
        10,
        "Before the softmax, drop (or set to -inf) the scores for keys j > i; with "
        "causal=False keep them all.",
    ),
    Check(
        "residual",
        "Pre-norm residual block",
        6,
        "x = x + attn(ln1(x)); x = x + ff(ln2(x)): normalise the branch input, add the "
        "branch output to the un-normalised x.",
    ),
    Check(
        "blocks",
        "num_layers blocks, chained, then a final LayerNorm",
        4,
        "Make a new TransformerBlock per layer and apply them one after another: "
        "x = block(x) for each block, then the final LayerNorm and the output projection.",
    ),
    Check(
        "positional",
        "Positions are embedded",
        5,
        "Add a learned position embedding (one row per position t) to each token's "
        "embedding before the first block.",
    ),
    Check(
        "max_seq_len",
        "Context length is enforced",
        4,
        "Accept any T up to max_seq_len and raise an exception for longer inputs "
        "instead of silently reusing position rows.",
    ),
    Check(
        "cross_entropy",
        "Cross-entropy is correct and stable",
        7,
        "Per position: logsumexp(z) - z[target], with the max subtracted before exp; "
        "then average over positions.",
    ),
    Check(
        "gradients",
        "Gradients flow to every parameter",
        8,
        "Build every step from Value operations; creating Value(x.data) or using .data "
        "inside the model cuts the graph.",
    ),
    Check(
        "parameters",
        "parameters() returns every weight",
        5,
        "If you override parameters(), include every Value the model keeps; otherwise "
        "let Module find them and create weights once, in __init__.",
    ),
    Check(
        "training",
        "The model learns a tiny corpus",
        7,
        "Plain SGD should quickly lower the loss on one short text; if it does not, "
        "check gradients, parameters() and that weights are not re-created each call.",
    ),
    Check(
        "generate_output",
        "generate returns start_ids plus new tokens",
        4,
        "Copy start_ids, append exactly max_new_tokens ints in range(vocab_size), and "
        "return the whole list.",
    ),
    Check(
        "generate_cropping",
        "generate crops the context",
        5,
        "Call the model on tokens[-model.max_seq_len:], the LAST max_seq_len tokens, at "
        "every step.",
    ),
    Check(
        "generate_sampling",
        "generate samples from the last position",
        5,
        "Take logits[-1] (the prediction after the last token), softmax it and draw one "
        "token with those probabilities.",
    ),
    Check(
        "generate_temperature",
        "Temperature scales the logits",
        4,
        "Divide the logits by the temperature before the softmax: low temperature "
        "sharpens towards the argmax, high temperature flattens.",
    ),
)

CHECKS_BY_ID: dict[str, Check] = {check.id: check for check in CHECKS}
MAX_SCORE: float = sum(check.points for check in CHECKS)
