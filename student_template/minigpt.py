"""Mini-GPT: a character-level language model built from scalar Values.

Fill in every function and method below that raises NotImplementedError.
Keep the names and signatures: the tests call them exactly like this.

Notation: T = number of tokens in a sequence, D = embed_dim, V = vocab_size.
A vector of size D is a list of D Values; a (T, D) sequence is a list of T
such lists. Tips:

* `Value.dot(a, b)` and `Value.sum(values)` (see engine.py) build one node
  for a whole dot product or sum: much faster than a chain of `+`.
* `Linear(in_features, out_features, bias=True)` (see nn.py) maps a list of
  in_features Values to a list of out_features Values.
* Store your Values and sub-modules as attributes (lists and dicts are fine):
  `Module.parameters()` finds them for you.
* `math` (math.sqrt, math.exp), `random` (random.gauss, random.choices),
  `Value`, `Linear` and `Module` are imported below. README.md lists the other
  modules you may import.
"""

from __future__ import annotations

import math
import random

from engine import Value
from nn import Linear, Module


class Embedding(Module):
    """A learnable lookup table: num_embeddings rows, each a vector of embedding_dim Values.

    Used twice in MiniGPT: once for tokens (one row per token id) and once for
    positions (one row per position 0..max_seq_len-1). Start the entries at
    random, e.g. random.gauss(0.0, 1.0): identical rows could not be told apart.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        raise NotImplementedError(
            "Embedding.__init__ is not implemented yet: create a table of num_embeddings "
            "rows, each a list of embedding_dim randomly initialised Values"
        )

    def forward(self, indices: list[int]) -> list[list[Value]]:
        """(T,) row indices -> (T, embedding_dim): row indices[t] of the table for each t.

        Return the table's own Values (do not copy them into new Values), so
        that gradients reach the table. An index outside 0..num_embeddings-1
        is an error: raise ValueError.
        """
        raise NotImplementedError(
            "Embedding.forward is not implemented yet: return the table row of each index"
        )


class LayerNorm(Module):
    """Normalises one vector of size dim, then applies a learnable scale and shift.

    y_i = gain_i * (x_i - mean) / sqrt(var + eps) + bias_i, where mean and var
    are the mean and the population variance (divide by dim) of x. gain starts
    at 1 and bias at 0.
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        raise NotImplementedError(
            "LayerNorm.__init__ is not implemented yet: store eps and create dim gain "
            "Values (start at 1.0) and dim bias Values (start at 0.0)"
        )

    def forward(self, x: list[Value]) -> list[Value]:
        """(D,) -> (D,), normalised as described in the class docstring."""
        raise NotImplementedError(
            "LayerNorm.forward is not implemented yet: subtract the mean, divide by "
            "sqrt(variance + eps), then scale by gain and add bias"
        )


class FeedForward(Module):
    """Position-wise MLP: Linear(D, H) -> activation -> Linear(H, D).

    H is hidden_dim, or 4 * embed_dim when hidden_dim is None. ReLU is the
    usual activation (tanh also works).
    """

    def __init__(self, embed_dim: int, hidden_dim: int | None = None) -> None:
        raise NotImplementedError(
            "FeedForward.__init__ is not implemented yet: create Linear(embed_dim, hidden) "
            "and Linear(hidden, embed_dim), with hidden = 4 * embed_dim by default"
        )

    def forward(self, x: list[Value]) -> list[Value]:
        """(D,) -> (D,)."""
        raise NotImplementedError(
            "FeedForward.forward is not implemented yet: first Linear, activation, second Linear"
        )


def softmax(scores: list[Value]) -> list[Value]:
    """Probabilities from scores: p_i = exp(s_i - m) / sum_j exp(s_j - m).

    m is the largest score's .data. Subtracting it changes nothing in the
    result, but keeps exp() away from huge numbers (math.exp(1000) raises
    OverflowError). Build it from Value operations (s - m, .exp(), Value.sum,
    division) so that gradients flow through it. SelfAttention needs it for
    its weights, and the lesson's generate() calls it on the scaled logits.
    """
    raise NotImplementedError(
        "softmax is not implemented yet: subtract the largest score's .data, exp() each "
        "score, divide each by their sum"
    )


class SelfAttention(Module):
    """Single-head self-attention over a sequence of T vectors of size D.

    For each position i: q_i = Wq x_i, k_j = Wk x_j, v_j = Wv x_j, where Wq,
    Wk and Wv are Linear(D, D) projections (usually without bias);
    score_ij = (q_i . k_j) / sqrt(D); weights_i = softmax over j of score_ij;
    out_i = sum_j weights_ij * v_j.
    With causal=True position i may only look at positions j <= i (the causal
    mask); with causal=False it looks at every position.
    Use a stable softmax: softmax() above.
    An output projection (out_i -> Wo out_i with Wo a Linear(D, D)), as in
    GPT-2, is optional: the tests accept attention with or without one.
    """

    def __init__(self, embed_dim: int) -> None:
        raise NotImplementedError(
            "SelfAttention.__init__ is not implemented yet: create the query, key and "
            "value projections, each a Linear(D, D) (bias=False is usual)"
        )

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        """(T, D) -> (T, D)."""
        raise NotImplementedError(
            "SelfAttention.forward is not implemented yet: scaled dot-product scores, "
            "causal mask, stable softmax, weighted sum of the values"
        )


class TransformerBlock(Module):
    """A pre-norm transformer block.

    x = x + attention(ln1(x))   (ln1 applied to every row)
    x = x + feedforward(ln2(x)) (ln2 and the feed-forward applied to every row)

    num_heads is part of the API, but attention here is single-head: check it
    is a positive int and otherwise ignore it.
    """

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        raise NotImplementedError(
            "TransformerBlock.__init__ is not implemented yet: create two LayerNorms, "
            "a SelfAttention and a FeedForward"
        )

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        """(T, D) -> (T, D), with the two residual connections."""
        raise NotImplementedError(
            "TransformerBlock.forward is not implemented yet: x + attn(ln1(x)), then x + ff(ln2(x))"
        )


class MiniGPT(Module):
    """The whole model.

    token ids -> token embedding + position embedding -> num_layers
    TransformerBlocks -> final LayerNorm -> Linear(D, V) -> logits.
    Keep max_seq_len as an attribute of that name: generate() reads
    model.max_seq_len. (Keeping vocab_size too is handy; nothing requires it.)
    """

    max_seq_len: int  # set it in __init__

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        num_heads: int,
        num_layers: int,
        max_seq_len: int,
    ) -> None:
        raise NotImplementedError(
            "MiniGPT.__init__ is not implemented yet: store max_seq_len, build the token "
            "and position embeddings, the blocks, the final LayerNorm and the output "
            "Linear(embed_dim, vocab_size)"
        )

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        """(T,) token ids -> (T, V) logits; row t scores the token that follows position t.

        Raise ValueError when T is 0 or larger than max_seq_len.
        """
        raise NotImplementedError(
            "MiniGPT.forward is not implemented yet: check the length, embed tokens and "
            "positions, run the blocks, final norm, output projection"
        )


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    """Mean over the T positions of -log(softmax(logits[t])[targets[t]]).

    logits: (T, V); targets: (T,) ints in 0..V-1. Return one Value so that
    loss.backward() works. Must stay finite for logits as large as +-1000:
    subtract each row's maximum before exp(). Raise ValueError when the
    number of rows and of targets differ.
    """
    raise NotImplementedError(
        "cross_entropy_loss is not implemented yet: stable log-softmax of each row, "
        "minus the target's log-probability, averaged over positions"
    )


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    """Sample max_new_tokens tokens, one at a time, after start_ids.

    Each step: take the last model.max_seq_len tokens as the context, run the
    model, keep the logits of the LAST position, divide them by temperature,
    turn them into probabilities with softmax() and draw the next token with
    random.choices (its weights: the probabilities' .data). Return start_ids
    followed by the new tokens (a new list: do not modify start_ids).
    """
    raise NotImplementedError(
        "generate is not implemented yet: crop the context, run the model, apply the "
        "temperature to the last logits, softmax, sample, append; repeat"
    )
