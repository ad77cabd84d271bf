"""Reference solution of the Mini-GPT exercise (not shipped to students).

Run it with the pack's `student_template/` folder on sys.path: it uses the
pack's own `engine.Value` and `nn.Module` / `nn.Linear`.

Shapes: T tokens, D = embed_dim, V = vocab_size. A vector is a list of Values,
a sequence of vectors is a list of such lists (T rows).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from engine import Value
from nn import Linear, Module

Vector = list[Value]
Matrix = list[list[Value]]


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _softmax(scores: Sequence[Value]) -> Vector:
    """Softmax of Values, shifted by the largest score so exp() cannot overflow."""
    largest = max(s.data for s in scores)
    exps = [(s - largest).exp() for s in scores]
    inv_total = Value.sum(exps) ** -1
    return [e * inv_total for e in exps]


def _add_rows(a: Matrix, b: Matrix) -> Matrix:
    """Element-wise a + b for two (T, D) sequences (used for residuals)."""
    return [
        [x + y for x, y in zip(row_a, row_b, strict=True)]
        for row_a, row_b in zip(a, b, strict=True)
    ]


class Embedding(Module):
    """A table of num_embeddings learnable vectors of size embedding_dim."""

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        _check_positive_int("num_embeddings", num_embeddings)
        _check_positive_int("embedding_dim", embedding_dim)
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        # N(0, 1) as in torch.nn.Embedding. Every block starts with a LayerNorm,
        # so the scale of the table does not blow up activations, and a scale
        # of 1 keeps the tokens clearly apart from the start.
        self.weight: Matrix = [
            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        """(T,) ints -> (T, embedding_dim): the table rows, the Values themselves."""
        for i in indices:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.num_embeddings:
                raise ValueError(
                    f"index {i!r} is out of range for an Embedding of "
                    f"{self.num_embeddings} rows (valid: 0..{self.num_embeddings - 1})"
                )
        return [list(self.weight[i]) for i in indices]


class LayerNorm(Module):
    """Normalise one vector to mean 0 and variance 1, then scale and shift."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        _check_positive_int("dim", dim)
        self.dim = dim
        self.eps = eps
        self.gain: Vector = [Value(1.0) for _ in range(dim)]
        self.bias: Vector = [Value(0.0) for _ in range(dim)]

    def forward(self, x: list[Value]) -> list[Value]:
        """(D,) -> (D,): gain * (x - mean) / sqrt(var + eps) + bias."""
        if len(x) != self.dim:
            raise ValueError(f"LayerNorm expected {self.dim} values, got {len(x)}")
        inv_n = 1.0 / self.dim
        mean = Value.sum(x) * inv_n
        centred = [xi - mean for xi in x]
        variance = Value.dot(centred, centred) * inv_n  # population variance
        inv_std = (variance + self.eps) ** -0.5
        return [c * inv_std * g + b for c, g, b in zip(centred, self.gain, self.bias, strict=True)]


class FeedForward(Module):
    """Linear(D, H) -> ReLU -> Linear(H, D), with H = 4 * D unless given."""

    def __init__(self, embed_dim: int, hidden_dim: int | None = None) -> None:
        _check_positive_int("embed_dim", embed_dim)
        if hidden_dim is None:
            hidden_dim = 4 * embed_dim
        _check_positive_int("hidden_dim", hidden_dim)
        self.hidden = Linear(embed_dim, hidden_dim)
        self.output = Linear(hidden_dim, embed_dim)

    def forward(self, x: list[Value]) -> list[Value]:
        """(D,) -> (D,)."""
        hidden: Vector = [h.relu() for h in self.hidden(x)]
        result: Vector = self.output(hidden)
        return result


class SelfAttention(Module):
    """Single-head scaled dot-product self-attention over a (T, D) sequence."""

    def __init__(self, embed_dim: int) -> None:
        _check_positive_int("embed_dim", embed_dim)
        self.embed_dim = embed_dim
        self.query = Linear(embed_dim, embed_dim, bias=False)
        self.key = Linear(embed_dim, embed_dim, bias=False)
        self.value = Linear(embed_dim, embed_dim, bias=False)
        self.proj = Linear(embed_dim, embed_dim)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        """(T, D) -> (T, D). With causal=True position i only sees positions j <= i."""
        queries: Matrix = [self.query(row) for row in x]
        keys: Matrix = [self.key(row) for row in x]
        values: Matrix = [self.value(row) for row in x]
        value_columns = list(zip(*values, strict=True))  # D columns of T Values each
        scale = 1.0 / math.sqrt(self.embed_dim)
        out: Matrix = []
        for i, q in enumerate(queries):
            visible = i + 1 if causal else len(x)  # the causal mask: keys 0..i only
            weights = _softmax([Value.dot(q, keys[j]) * scale for j in range(visible)])
            mixed = [Value.dot(weights, column[:visible]) for column in value_columns]
            out.append(self.proj(mixed))
        return out


class TransformerBlock(Module):
    """Pre-norm block: x + attn(ln1(x)), then x + ff(ln2(x))."""

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        _check_positive_int("embed_dim", embed_dim)
        _check_positive_int("num_heads", num_heads)
        self.num_heads = num_heads  # kept for the API: attention is single-head
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ff = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        """(T, D) -> (T, D)."""
        x = _add_rows(x, self.attn([self.ln1(row) for row in x]))
        return _add_rows(x, [self.ff(self.ln2(row)) for row in x])


class MiniGPT(Module):
    """Token + position embeddings -> blocks -> final LayerNorm -> logits."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        num_heads: int,
        num_layers: int,
        max_seq_len: int,
    ) -> None:
        _check_positive_int("vocab_size", vocab_size)
        _check_positive_int("max_seq_len", max_seq_len)
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(f"num_layers must be an int >= 0, got {num_layers!r}")
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.token_embedding = Embedding(vocab_size, embed_dim)
        self.position_embedding = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_final = LayerNorm(embed_dim)
        self.head = Linear(embed_dim, vocab_size)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        """(T,) token ids, 1 <= T <= max_seq_len -> (T, vocab_size) logits."""
        length = len(token_ids)
        if length == 0:
            raise ValueError("MiniGPT needs at least one token")
        if length > self.max_seq_len:
            raise ValueError(
                f"sequence of {length} tokens is longer than max_seq_len={self.max_seq_len}"
            )
        x = _add_rows(
            self.token_embedding(token_ids),
            self.position_embedding(list(range(length))),
        )
        for block in self.blocks:
            x = block(x)
        return [self.head(self.ln_final(row)) for row in x]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    """Mean over positions of -log softmax(logits[t])[targets[t]].

    Computed as logsumexp(z) - z[target], with the row maximum taken out of
    the exponentials so that logits of +-1000 neither overflow nor underflow.
    """
    if len(logits) != len(targets):
        raise ValueError(f"got {len(logits)} rows of logits but {len(targets)} targets")
    if not targets:
        raise ValueError("cross_entropy_loss needs at least one position")
    losses: Vector = []
    for row, target in zip(logits, targets, strict=True):
        if not 0 <= target < len(row):
            raise ValueError(f"target {target} is out of range for {len(row)} classes")
        largest = max(z.data for z in row)
        log_sum_exp = Value.sum([(z - largest).exp() for z in row]).log() + largest
        losses.append(log_sum_exp - row[target])
    return Value.sum(losses) * (1.0 / len(losses))


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    """Append max_new_tokens sampled tokens to a copy of start_ids and return it.

    Each step feeds the last model.max_seq_len tokens to the model, divides the
    logits of the last position by the temperature and samples from their softmax.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    tokens = list(start_ids)
    if not tokens and max_new_tokens > 0:
        raise ValueError("generate needs at least one start token")
    for _ in range(max_new_tokens):
        context = tokens[-model.max_seq_len :]
        last = model(context)[-1]
        scaled = [z.data / temperature for z in last]
        largest = max(scaled)
        exps = [math.exp(s - largest) for s in scaled]
        total = sum(exps)
        probs = [e / total for e in exps]
        tokens.append(random.choices(range(len(probs)), weights=probs)[0])
    return tokens
