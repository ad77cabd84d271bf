"""Correct MiniGPT: GELU, bias-free linears, no attention output projection.

Style under test: Gaussian initialisation, LayerNorm without learnable
parameters, explicit ``parameters()`` overrides everywhere, a Value-level
softmax in ``generate`` and a hand-rolled inverse-CDF sampler.
"""

import math
import random
from collections.abc import Sequence

from engine import Value
from nn import Linear, Module

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def gelu(x: Value) -> Value:
    """GELU, tanh approximation."""
    inner = _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
    return 0.5 * x * (1.0 + inner.tanh())


def softmax(scores: Sequence[Value]) -> list[Value]:
    """Softmax of Values, shifted by the largest score for stability."""
    top = max(s.data for s in scores)
    exps = [(s - top).exp() for s in scores]
    total = Value.sum(exps)
    return [e / total for e in exps]


def gaussian_linear(in_features: int, out_features: int) -> Linear:
    """A bias-free Linear re-initialised from N(0, 1/in_features)."""
    layer = Linear(in_features, out_features, bias=False)
    std = 1.0 / math.sqrt(in_features)
    for p in layer.parameters():
        p.data = random.gauss(0.0, std)
    return layer


class Embedding(Module):
    """Lookup table of ``num_embeddings`` rows of length ``embedding_dim``."""

    def __init__(self, num_embeddings: int, embedding_dim: int):
        self.table = [
            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        return [list(self.table[i]) for i in indices]

    def parameters(self) -> list[Value]:
        return [v for row in self.table for v in row]


class LayerNorm(Module):
    """Normalisation to zero mean and unit variance, no learnable scale."""

    def __init__(self, dim: int, eps: float = 1e-5):
        self.dim = dim
        self.eps = eps

    def forward(self, x: list[Value]) -> list[Value]:
        n = len(x)
        mean = Value.sum(x) / n
        centred = [v - mean for v in x]
        var = Value.dot(centred, centred) / n
        inv_std = (var + self.eps) ** -0.5
        return [c * inv_std for c in centred]

    def parameters(self) -> list[Value]:
        return []


class FeedForward(Module):
    """Linear -> GELU -> Linear, hidden size 4 * embed_dim by default."""

    def __init__(self, embed_dim: int, hidden_dim: int | None = None):
        hidden = 4 * embed_dim if hidden_dim is None else hidden_dim
        self.up = gaussian_linear(embed_dim, hidden)
        self.down = gaussian_linear(hidden, embed_dim)

    def forward(self, x: list[Value]) -> list[Value]:
        return self.down([gelu(h) for h in self.up(x)])

    def parameters(self) -> list[Value]:
        return self.up.parameters() + self.down.parameters()


class SelfAttention(Module):
    """Single-head scaled dot-product attention without output projection."""

    def __init__(self, embed_dim: int):
        self.embed_dim = embed_dim
        self.query = gaussian_linear(embed_dim, embed_dim)
        self.key = gaussian_linear(embed_dim, embed_dim)
        self.value = gaussian_linear(embed_dim, embed_dim)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        qs = [self.query(row) for row in x]
        ks = [self.key(row) for row in x]
        vs = [self.value(row) for row in x]
        scale = 1.0 / math.sqrt(self.embed_dim)
        out = []
        for i, q in enumerate(qs):
            visible = range(i + 1) if causal else range(len(x))
            weights = softmax([Value.dot(q, ks[j]) * scale for j in visible])
            columns = [[vs[j][d] for j in visible] for d in range(self.embed_dim)]
            out.append([Value.dot(weights, column) for column in columns])
        return out

    def parameters(self) -> list[Value]:
        return self.query.parameters() + self.key.parameters() + self.value.parameters()


class TransformerBlock(Module):
    """Pre-norm block: attention then feed-forward, each with a residual."""

    def __init__(self, embed_dim: int, num_heads: int):
        self.num_heads = num_heads  # single head: kept for API compatibility
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ff = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        attended = self.attn([self.ln1(row) for row in x])
        x = [
            [a + b for a, b in zip(row, upd, strict=True)]
            for row, upd in zip(x, attended, strict=True)
        ]
        return [[a + b for a, b in zip(row, self.ff(self.ln2(row)), strict=True)] for row in x]

    def parameters(self) -> list[Value]:
        return self.attn.parameters() + self.ff.parameters()


class MiniGPT(Module):
    """Token + position embeddings, transformer blocks, final norm, vocab head."""

    def __init__(
        self, vocab_size: int, embed_dim: int, num_heads: int, num_layers: int, max_seq_len: int
    ):
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.token_embedding = Embedding(vocab_size, embed_dim)
        self.position_embedding = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.head = gaussian_linear(embed_dim, vocab_size)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        if len(token_ids) > self.max_seq_len:
            raise IndexError(
                f"sequence of length {len(token_ids)} exceeds max_seq_len={self.max_seq_len}"
            )
        tokens = self.token_embedding(token_ids)
        positions = self.position_embedding(list(range(len(token_ids))))
        x = [
            [t + p for t, p in zip(tr, pr, strict=True)]
            for tr, pr in zip(tokens, positions, strict=True)
        ]
        for block in self.blocks:
            x = block(x)
        return [self.head(self.ln_f(row)) for row in x]

    def parameters(self) -> list[Value]:
        params = self.token_embedding.parameters() + self.position_embedding.parameters()
        for block in self.blocks:
            params += block.parameters()
        return params + self.head.parameters()


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    """Mean over positions of logsumexp(z_t) - z_t[y_t]."""
    if len(logits) != len(targets):
        raise ValueError("logits and targets must have the same length")
    losses = []
    for row, target in zip(logits, targets, strict=True):
        top = max(z.data for z in row)
        log_total = Value.sum([(z - top).exp() for z in row]).log()
        losses.append(log_total + top - row[target])
    return Value.sum(losses) / len(losses)


def _sample(probs: Sequence[float]) -> int:
    """Inverse-CDF sampling with random.random()."""
    r = random.random()
    cumulative = 0.0
    last_possible = 0
    for i, p in enumerate(probs):
        if p > 0.0:
            last_possible = i
        cumulative += p
        if r < cumulative:
            return i
    return last_possible  # rounding left r above the total


def generate(
    model: MiniGPT, start_ids: list[int], max_new_tokens: int, temperature: float = 1.0
) -> list[int]:
    """Extend ``start_ids`` by sampling ``max_new_tokens`` ids from the model."""
    tokens = list(start_ids)
    for _ in range(max_new_tokens):
        logits = model(tokens[-model.max_seq_len :])
        probs = softmax([z / temperature for z in logits[-1]])
        tokens.append(_sample([p.data for p in probs]))
    return tokens
