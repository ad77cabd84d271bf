"""Mini-GPT whose weights live in small objects, __slots__ and dicts.

Style under test: a weight matrix is a ``Matrix`` object (not a Module) with
its own ``apply``; the dense layer keeps its matrix and bias in ``__slots__``;
LayerNorm keeps gain and bias in a dict, SelfAttention its q, k, v layers,
MiniGPT its two tables. nn.Module's walk looks into neither Matrix objects
nor slots, so Dense and Embedding list their weights themselves, and MiniGPT
lists its parts explicitly.
"""

from __future__ import annotations

import itertools
import math
import random

from engine import Value
from nn import Module


class Matrix:
    """out_features rows of in_features weights, uniform in +-1/sqrt(in_features)."""

    __slots__ = ("rows",)

    def __init__(self, in_features: int, out_features: int) -> None:
        bound = 1.0 / math.sqrt(in_features)
        self.rows = [
            [Value(random.uniform(-bound, bound)) for _ in range(in_features)]
            for _ in range(out_features)
        ]

    def apply(self, x: list[Value]) -> list[Value]:
        return [Value.dot(row, x) for row in self.rows]

    def values(self) -> list[Value]:
        return [w for row in self.rows for w in row]


class Dense(Module):
    """y = W x + b, with W a Matrix and b a list, both kept in slots."""

    __slots__ = ("bias", "weight")

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        self.weight = Matrix(in_features, out_features)
        self.bias = [Value(0.0) for _ in range(out_features)] if bias else []

    def forward(self, x: list[Value]) -> list[Value]:
        y = self.weight.apply(x)
        return [a + b for a, b in zip(y, self.bias, strict=True)] if self.bias else y

    def parameters(self) -> list[Value]:
        return self.weight.values() + self.bias


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.table = Matrix(embedding_dim, num_embeddings)  # num_embeddings rows
        self.count = num_embeddings

    def forward(self, indices: list[int]) -> list[list[Value]]:
        if any(not 0 <= i < self.count for i in indices):
            raise ValueError(f"indices must be in 0..{self.count - 1}")
        return [self.table.rows[i] for i in indices]

    def parameters(self) -> list[Value]:
        return self.table.values()


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.eps = eps
        self.affine = {
            "gain": [Value(1.0) for _ in range(dim)],
            "bias": [Value(0.0) for _ in range(dim)],
        }

    def forward(self, x: list[Value]) -> list[Value]:
        n = len(x)
        mean = Value.sum(x) * (1.0 / n)
        dev = [v - mean for v in x]
        inv = (Value.dot(dev, dev) * (1.0 / n) + self.eps) ** -0.5
        gain, bias = self.affine["gain"], self.affine["bias"]
        return [d * inv * g + b for d, g, b in zip(dev, gain, bias, strict=True)]


class FeedForward(Module):
    def __init__(self, embed_dim: int, hidden_dim: int | None = None) -> None:
        width = hidden_dim if hidden_dim is not None else 4 * embed_dim
        self.layers = (Dense(embed_dim, width), Dense(width, embed_dim))

    def forward(self, x: list[Value]) -> list[Value]:
        up, down = self.layers
        return down([h.relu() for h in up(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim: int) -> None:
        self.dim = embed_dim
        self.proj = {name: Dense(embed_dim, embed_dim, bias=False) for name in "qkv"}
        self.out = Dense(embed_dim, embed_dim)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        q, k, v = ([self.proj[name](r) for r in x] for name in "qkv")
        result = []
        for i in range(len(x)):
            seen = list(range(i + 1 if causal else len(x)))
            scores = [Value.dot(q[i], k[j]) * (1.0 / math.sqrt(self.dim)) for j in seen]
            top = max(s.data for s in scores)
            e = [(s - top).exp() for s in scores]
            total = Value.sum(e)
            w = [ei / total for ei in e]
            mixed = [Value.dot(w, [v[j][c] for j in seen]) for c in range(self.dim)]
            result.append(self.out(mixed))
        return result


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        del num_heads  # single head
        self.norms = [LayerNorm(embed_dim), LayerNorm(embed_dim)]
        self.attn = SelfAttention(embed_dim)
        self.ff = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        first, second = self.norms
        a = self.attn([first(r) for r in x])
        x = [[p + q for p, q in zip(r, s, strict=True)] for r, s in zip(x, a, strict=True)]
        return [[p + q for p, q in zip(r, self.ff(second(r)), strict=True)] for r in x]


class MiniGPT(Module):
    def __init__(self, vocab_size, embed_dim, num_heads, num_layers, max_seq_len) -> None:
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.tables = {
            "token": Embedding(vocab_size, embed_dim),
            "position": Embedding(max_seq_len, embed_dim),
        }
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.norm = LayerNorm(embed_dim)
        self.head = Dense(embed_dim, vocab_size)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        n = len(token_ids)
        if n > self.max_seq_len:
            raise ValueError(f"at most {self.max_seq_len} tokens, got {n}")
        tok = self.tables["token"](token_ids)
        pos = self.tables["position"](list(range(n)))
        x = [[a + b for a, b in zip(t, p, strict=True)] for t, p in zip(tok, pos, strict=True)]
        for block in self.blocks:
            x = block(x)
        return [self.head(self.norm(r)) for r in x]

    def parameters(self) -> list[Value]:
        params: list[Value] = []
        for table in self.tables.values():
            params += table.parameters()
        for block in self.blocks:
            params += block.parameters()
        return params + self.norm.parameters() + self.head.parameters()


def log_probs(row: list[Value]) -> list[Value]:
    """log softmax(row), with the maximum taken out before exp."""
    top = max(z.data for z in row)
    log_norm = Value.sum([(z - top).exp() for z in row]).log() + top
    return [z - log_norm for z in row]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if not logits or len(logits) != len(targets):
        raise ValueError("need at least one row, and one target per row")
    picked = [log_probs(row)[y] for row, y in zip(logits, targets, strict=True)]
    return -Value.sum(picked) * (1.0 / len(picked))


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    out = list(start_ids)
    while len(out) < len(start_ids) + max_new_tokens:
        scaled = [v.data / temperature for v in model(out[-model.max_seq_len :])[-1]]
        top = max(scaled)
        cumulative = list(itertools.accumulate(math.exp(s - top) for s in scaled))
        out.append(random.choices(range(len(cumulative)), cum_weights=cumulative)[0])
    return out
