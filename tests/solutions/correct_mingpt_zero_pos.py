"""Mini-GPT in the style of minGPT: small matrix helpers, a mask matrix, zero positions.

Everything is written with a handful of list-of-lists helpers (matmul,
transpose, row-wise softmax), the way minGPT writes ``q @ k.transpose(-2, -1)``.
Like the original minGPT, the position embedding starts at exactly zero and
the causal mask is added to the scores as a large negative number; token
embeddings and linear weights start from N(0, 0.02), biases from 0.
"""

from __future__ import annotations

import math
import random

from engine import Value
from nn import Linear, Module

NEG_INF = -1e9  # "minus infinity" for masked scores: exp() of it underflows to 0.0


# ---------------------------------------------------------------- matrix helpers


def transpose(m):
    return [list(col) for col in zip(*m, strict=True)]


def matmul(a, b):
    """(n, k) @ (k, p) -> (n, p) with one Value.dot node per entry."""
    bt = transpose(b)
    return [[Value.dot(row, col) for col in bt] for row in a]


def apply_rows(layer, m):
    """Apply a per-vector layer (Linear, LayerNorm...) to every row of m."""
    return [layer(row) for row in m]


def add(a, b):
    return [[x + y for x, y in zip(ra, rb, strict=True)] for ra, rb in zip(a, b, strict=True)]


def scale(m, s):
    return [[x * s for x in row] for row in m]


def softmax_rows(m):
    out = []
    for row in m:
        hi = max(v.data for v in row)
        e = [(v - hi).exp() for v in row]
        inv = 1.0 / Value.sum(e)
        out.append([x * inv for x in e])
    return out


def causal_mask(t):
    """0 where j <= i, NEG_INF where j > i."""
    return [[0.0 if j <= i else NEG_INF for j in range(t)] for i in range(t)]


def init_linear_(layer):
    for row in layer.weight:
        for w in row:
            w.data = random.gauss(0.0, 0.02)
    return layer


# ---------------------------------------------------------------- layers


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim):
        self.num_embeddings = num_embeddings
        self.weight = [
            [Value(random.gauss(0.0, 0.02)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def zero_(self):
        for row in self.weight:
            for w in row:
                w.data = 0.0
        return self

    def forward(self, indices):
        if any(i < 0 or i >= self.num_embeddings for i in indices):
            raise ValueError(f"indices must lie in [0, {self.num_embeddings}): {indices}")
        return [self.weight[i] for i in indices]


class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        self.eps = eps
        self.weight = [Value(1.0) for _ in range(dim)]
        self.bias = [Value(0.0) for _ in range(dim)]

    def forward(self, x):
        n = len(x)
        mean = Value.sum(x) / n
        diff = [xi - mean for xi in x]
        var = Value.sum([d * d for d in diff]) / n
        denom = (var + self.eps) ** 0.5
        return [d / denom * w + b for d, w, b in zip(diff, self.weight, self.bias, strict=True)]


class FeedForward(Module):
    def __init__(self, embed_dim, hidden_dim=None):
        if hidden_dim is None:
            hidden_dim = 4 * embed_dim
        self.c_fc = init_linear_(Linear(embed_dim, hidden_dim))
        self.c_proj = init_linear_(Linear(hidden_dim, embed_dim))

    def forward(self, x):
        return self.c_proj([h.relu() for h in self.c_fc(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim):
        self.n_embd = embed_dim
        self.key = init_linear_(Linear(embed_dim, embed_dim, bias=False))
        self.query = init_linear_(Linear(embed_dim, embed_dim, bias=False))
        self.value = init_linear_(Linear(embed_dim, embed_dim, bias=False))
        self.proj = init_linear_(Linear(embed_dim, embed_dim))

    def forward(self, x, causal=True):
        t = len(x)
        q = apply_rows(self.query, x)  # (T, D)
        k = apply_rows(self.key, x)  # (T, D)
        v = apply_rows(self.value, x)  # (T, D)
        att = scale(matmul(q, transpose(k)), 1.0 / math.sqrt(self.n_embd))  # (T, T)
        if causal:
            att = [
                [a + m for a, m in zip(row, mrow, strict=True)]
                for row, mrow in zip(att, causal_mask(t), strict=True)
            ]
        att = softmax_rows(att)
        y = matmul(att, v)  # (T, T) @ (T, D) -> (T, D)
        return apply_rows(self.proj, y)


class TransformerBlock(Module):
    def __init__(self, embed_dim, num_heads):
        assert embed_dim % num_heads == 0, "embed_dim must be divisible by num_heads"
        self.ln_1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln_2 = LayerNorm(embed_dim)
        self.mlp = FeedForward(embed_dim)

    def forward(self, x):
        x = add(x, self.attn(apply_rows(self.ln_1, x)))
        x = add(x, apply_rows(self.mlp, apply_rows(self.ln_2, x)))
        return x


class MiniGPT(Module):
    def __init__(self, vocab_size, embed_dim, num_heads, num_layers, max_seq_len):
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len  # minGPT's block_size
        self.tok_emb = Embedding(vocab_size, embed_dim)
        self.pos_emb = Embedding(max_seq_len, embed_dim).zero_()  # as in minGPT: zeros
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.head = init_linear_(Linear(embed_dim, vocab_size, bias=False))

    def forward(self, idx):
        t = len(idx)
        assert t <= self.max_seq_len, (
            f"Cannot forward sequence of length {t}, block size is only {self.max_seq_len}"
        )
        x = add(self.tok_emb(idx), self.pos_emb(list(range(t))))
        for block in self.blocks:
            x = block(x)
        return apply_rows(self.head, apply_rows(self.ln_f, x))


def cross_entropy_loss(logits, targets):
    if len(logits) != len(targets):
        raise ValueError("logits and targets differ in length")
    total = []
    for row, y in zip(logits, targets, strict=True):
        hi = max(z.data for z in row)
        logsumexp = hi + Value.sum([(z - hi).exp() for z in row]).log()
        total.append(logsumexp - row[y])
    return Value.sum(total) / len(total)


def generate(model, start_ids, max_new_tokens, temperature=1.0, top_k=None):
    idx = list(start_ids)
    for _ in range(max_new_tokens):
        idx_cond = idx if len(idx) <= model.max_seq_len else idx[-model.max_seq_len :]
        logits = [z.data / temperature for z in model(idx_cond)[-1]]
        if top_k is not None:
            kth = sorted(logits, reverse=True)[min(top_k, len(logits)) - 1]
            logits = [z if z >= kth else -math.inf for z in logits]
        hi = max(logits)
        probs = [math.exp(z - hi) for z in logits]
        total = sum(probs)
        probs = [p / total for p in probs]
        idx.append(random.choices(range(len(probs)), weights=probs)[0])
    return idx
