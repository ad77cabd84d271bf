"""Mini-GPT where the fixed numbers of a layer are kept as Values.

LayerNorm holds its epsilon, and SelfAttention its 1/sqrt(D) scale, as
``Value`` objects on the module, so that every operand of the graph is a
Value. They are constants, not weights: both layers override ``parameters()``
so that an optimiser never sees (and never updates) them.
The feed-forward layer uses tanh.
"""

from __future__ import annotations

import math
import random

from engine import Value
from nn import Linear, Module


def softmax(logits: list[Value]) -> list[Value]:
    top = max(z.data for z in logits)
    exps = [(z - top).exp() for z in logits]
    inv_total = Value.sum(exps) ** -1
    return [e * inv_total for e in exps]


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.size = num_embeddings
        self.vectors = [
            [Value(random.uniform(-1.0, 1.0)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        bad = [i for i in indices if not 0 <= i < self.size]
        if bad:
            raise ValueError(f"indices {bad} are outside 0..{self.size - 1}")
        return [self.vectors[i] for i in indices]


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.dim = dim
        self.eps = Value(eps)  # a constant: see parameters()
        self.gamma = [Value(1.0) for _ in range(dim)]
        self.beta = [Value(0.0) for _ in range(dim)]

    def parameters(self) -> list[Value]:
        return self.gamma + self.beta  # not self.eps

    def forward(self, x: list[Value]) -> list[Value]:
        mean = Value.sum(x) * (1.0 / self.dim)
        centred = [xi - mean for xi in x]
        var = Value.sum([c * c for c in centred]) * (1.0 / self.dim)
        std = (var + self.eps) ** 0.5
        return [g * (c / std) + b for c, g, b in zip(centred, self.gamma, self.beta, strict=True)]


class FeedForward(Module):
    def __init__(self, embed_dim: int, hidden_dim: int | None = None) -> None:
        width = 4 * embed_dim if hidden_dim is None else hidden_dim
        self.layer1 = Linear(embed_dim, width)
        self.layer2 = Linear(width, embed_dim)

    def forward(self, x: list[Value]) -> list[Value]:
        return self.layer2([h.tanh() for h in self.layer1(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim: int) -> None:
        self.q_proj = Linear(embed_dim, embed_dim, bias=False)
        self.k_proj = Linear(embed_dim, embed_dim, bias=False)
        self.v_proj = Linear(embed_dim, embed_dim, bias=False)
        self.out_proj = Linear(embed_dim, embed_dim, bias=False)
        self.scale = Value(1.0 / math.sqrt(embed_dim))  # a constant: see parameters()

    def parameters(self) -> list[Value]:
        params: list[Value] = []
        for layer in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            params.extend(layer.parameters())
        return params

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        q = [self.q_proj(r) for r in x]
        k = [self.k_proj(r) for r in x]
        v = [self.v_proj(r) for r in x]
        dim = len(x[0])
        result = []
        for i in range(len(x)):
            n_visible = i + 1 if causal else len(x)
            att = softmax([Value.dot(q[i], k[j]) * self.scale for j in range(n_visible)])
            summed = [Value.dot(att, [v[j][c] for j in range(n_visible)]) for c in range(dim)]
            result.append(self.out_proj(summed))
        return result


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        if num_heads < 1:
            raise ValueError("num_heads must be at least 1")
        self.norm1 = LayerNorm(embed_dim)
        self.attention = SelfAttention(embed_dim)
        self.norm2 = LayerNorm(embed_dim)
        self.feed_forward = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        att = self.attention([self.norm1(r) for r in x])
        h = [[a + b for a, b in zip(r, s, strict=True)] for r, s in zip(x, att, strict=True)]
        return [
            [a + b for a, b in zip(r, self.feed_forward(self.norm2(r)), strict=True)] for r in h
        ]


class MiniGPT(Module):
    def __init__(
        self, vocab_size: int, embed_dim: int, num_heads: int, num_layers: int, max_seq_len: int
    ) -> None:
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.token_table = Embedding(vocab_size, embed_dim)
        self.position_table = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.norm = LayerNorm(embed_dim)
        self.to_logits = Linear(embed_dim, vocab_size)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        n = len(token_ids)
        if not 1 <= n <= self.max_seq_len:
            raise ValueError(f"expected 1..{self.max_seq_len} tokens, got {n}")
        emb = self.token_table(token_ids)
        pos = self.position_table(list(range(n)))
        h = [[a + b for a, b in zip(e, p, strict=True)] for e, p in zip(emb, pos, strict=True)]
        for block in self.blocks:
            h = block(h)
        return [self.to_logits(self.norm(r)) for r in h]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError(f"{len(logits)} logits rows, {len(targets)} targets")
    terms = []
    for row, target in zip(logits, targets, strict=True):
        top = max(z.data for z in row)
        terms.append(Value.sum([(z - top).exp() for z in row]).log() + top - row[target])
    return Value.sum(terms) * (1.0 / len(terms))


def generate(
    model: MiniGPT, start_ids: list[int], max_new_tokens: int, temperature: float = 1.0
) -> list[int]:
    result = list(start_ids)
    for _ in range(max_new_tokens):
        last_row = model(result[-model.max_seq_len :])[-1]
        probs = softmax([z * (1.0 / temperature) for z in last_row])
        result.append(random.choices(range(model.vocab_size), weights=[p.data for p in probs])[0])
    return result
