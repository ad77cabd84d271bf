# ruff: noqa: B905, SIM300
"""Mini-GPT with gain-only norms and attention written as matrix products.

Style: every LayerNorm (the two in each block and the final one) has a
learnable gain and NO bias, like PyTorch's LayerNorm(bias=False). No layer
has a bias at all: the weights are plain matrices (lists of lists of
Values) stored as (in, out), and everything is computed with two helpers,
``matmul`` and ``transpose``: Q = X Wq, K = X Wk, V = X Wv,
S = Q K^T / sqrt(D), causal rows softmaxed over j <= i and padded with
0.0 for j > i, out = P V. The feed-forward uses ReLU.
"""

from __future__ import annotations

import math
import random

from engine import Value
from nn import Module


def transpose(m: list[list]) -> list[list]:
    return [list(col) for col in zip(*m)]


def matmul(a: list[list], b: list[list]) -> list[list[Value]]:
    """(n, k) @ (k, p) -> (n, p); entries may be Values or floats."""
    b_cols = transpose(b)
    return [[Value.dot(row, col) for col in b_cols] for row in a]


def random_matrix(rows: int, cols: int) -> list[list[Value]]:
    bound = 1.0 / math.sqrt(rows)
    return [[Value(random.uniform(-bound, bound)) for _ in range(cols)] for _ in range(rows)]


def softmax(row: list[Value]) -> list[Value]:
    m = max(v.data for v in row)
    e = [(v - m).exp() for v in row]
    s = Value.sum(e)
    return [x / s for x in e]


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.E = [
            [Value(random.gauss(0, 1)) for _ in range(embedding_dim)] for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        out = []
        for i in indices:
            if i not in range(len(self.E)):
                raise ValueError(f"no row {i} in a table of {len(self.E)} rows")
            out.append(self.E[i][:])
        return out


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.eps = eps
        self.gamma = [Value(1.0) for _ in range(dim)]

    def forward(self, x: list[Value]) -> list[Value]:
        n = len(x)
        mean = Value.sum(x) / n
        xc = [xi - mean for xi in x]
        var = Value.dot(xc, xc) / n
        rstd = 1.0 / (var + self.eps) ** 0.5
        return [g * xi * rstd for g, xi in zip(self.gamma, xc)]


class FeedForward(Module):
    def __init__(self, embed_dim: int, hidden_dim: int | None = None) -> None:
        h = hidden_dim or 4 * embed_dim
        self.W1 = random_matrix(embed_dim, h)
        self.W2 = random_matrix(h, embed_dim)

    def forward(self, x: list[Value]) -> list[Value]:
        hidden = [v.relu() for v in matmul([x], self.W1)[0]]
        return matmul([hidden], self.W2)[0]


class SelfAttention(Module):
    def __init__(self, embed_dim: int) -> None:
        self.D = embed_dim
        self.Wq = random_matrix(embed_dim, embed_dim)
        self.Wk = random_matrix(embed_dim, embed_dim)
        self.Wv = random_matrix(embed_dim, embed_dim)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        T = len(x)
        Q = matmul(x, self.Wq)
        K = matmul(x, self.Wk)
        V = matmul(x, self.Wv)
        S = matmul(Q, transpose(K))
        scale = 1.0 / math.sqrt(self.D)
        P: list[list] = []
        for i in range(T):
            seen = i + 1 if causal else T
            probs: list = softmax([S[i][j] * scale for j in range(seen)])
            P.append(probs + [0.0] * (T - seen))
        return matmul(P, V)


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        assert num_heads >= 1, "num_heads must be positive"
        self.ln1 = LayerNorm(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ff = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        h = self.attn([self.ln1(r) for r in x])
        x = [[a + b for a, b in zip(r1, r2)] for r1, r2 in zip(x, h)]
        h = [self.ff(self.ln2(r)) for r in x]
        return [[a + b for a, b in zip(r1, r2)] for r1, r2 in zip(x, h)]


class MiniGPT(Module):
    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        num_heads: int,
        num_layers: int,
        max_seq_len: int,
    ) -> None:
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.wte = Embedding(vocab_size, embed_dim)
        self.wpe = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.W_out = random_matrix(embed_dim, vocab_size)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        T = len(token_ids)
        if T < 1 or T > self.max_seq_len:
            raise ValueError(f"T={T} but max_seq_len={self.max_seq_len}")
        X = [
            [a + b for a, b in zip(te, pe)]
            for te, pe in zip(self.wte(token_ids), self.wpe(list(range(T))))
        ]
        for block in self.blocks:
            X = block(X)
        return matmul([self.ln_f(r) for r in X], self.W_out)


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError(f"{len(logits)} rows of logits but {len(targets)} targets")
    per_row = []
    for z, y in zip(logits, targets):
        m = max(v.data for v in z)
        lse = Value.sum([(v - m).exp() for v in z]).log() + m
        per_row.append(lse - z[y])
    return Value.sum(per_row) / len(per_row)


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    ids = list(start_ids)
    for _ in range(max_new_tokens):
        logits = model(ids[-model.max_seq_len :])
        probs = softmax([z / temperature for z in logits[-1]])
        ids.append(random.choices(list(range(len(probs))), weights=[p.data for p in probs], k=1)[0])
    return ids
