# ruff: noqa: B905, SIM300
"""Mini-GPT with a SiLU feed-forward written from exp, and a biased output projection.

Style: the activation the textbook way. SiLU(x) = x * sigmoid(x), with
sigmoid(x) = 1 / (1 + e^(-x)) built from Value.exp, exactly as the formula
reads (no guard for huge negative inputs, as most students write it).
FeedForward takes its hidden size from a ``mult=4`` argument when hidden_dim
is not given. SelfAttention ends with its own output projection, a
Linear(D, D) WITH bias, and returns the projected rows without any residual
(the residual add lives in the block). LayerNorm has a gain and a bias.
"""

from __future__ import annotations

import math
import random

from engine import Value
from nn import Linear, Module


def sigmoid(x: Value) -> Value:
    return 1.0 / (1.0 + (-x).exp())


def silu(x: Value) -> Value:
    return x * sigmoid(x)


def softmax(scores: list[Value]) -> list[Value]:
    biggest = max(s.data for s in scores)
    exps = [(s - biggest).exp() for s in scores]
    total = Value.sum(exps)
    return [e / total for e in exps]


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.weight = [
            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        rows = []
        for index in indices:
            if not 0 <= index < self.num_embeddings:
                raise ValueError(f"index {index} out of range 0..{self.num_embeddings - 1}")
            rows.append(list(self.weight[index]))
        return rows


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.dim = dim
        self.eps = eps
        self.gain = [Value(1.0) for _ in range(dim)]
        self.bias = [Value(0.0) for _ in range(dim)]

    def forward(self, x: list[Value]) -> list[Value]:
        n = len(x)
        mean = Value.sum(x) / n
        centred = [v - mean for v in x]
        variance = Value.sum([c * c for c in centred]) / n
        inv_std = (variance + self.eps) ** -0.5
        return [g * (c * inv_std) + b for c, g, b in zip(centred, self.gain, self.bias)]


class FeedForward(Module):
    def __init__(self, embed_dim: int, hidden_dim: int | None = None, mult: int = 4) -> None:
        hidden = hidden_dim if hidden_dim is not None else mult * embed_dim
        self.fc_in = Linear(embed_dim, hidden)
        self.fc_out = Linear(hidden, embed_dim)

    def forward(self, x: list[Value]) -> list[Value]:
        return self.fc_out([silu(h) for h in self.fc_in(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim: int) -> None:
        self.embed_dim = embed_dim
        self.query = Linear(embed_dim, embed_dim, bias=False)
        self.key = Linear(embed_dim, embed_dim, bias=False)
        self.value = Linear(embed_dim, embed_dim, bias=False)
        self.out_proj = Linear(embed_dim, embed_dim, bias=True)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        T = len(x)
        qs = [self.query(row) for row in x]
        ks = [self.key(row) for row in x]
        vs = [self.value(row) for row in x]
        scale = 1.0 / math.sqrt(self.embed_dim)
        result = []
        for i in range(T):
            visible = i + 1 if causal else T
            weights = softmax([Value.dot(qs[i], ks[j]) * scale for j in range(visible)])
            mixed = [
                Value.dot(weights, [vs[j][d] for j in range(visible)])
                for d in range(self.embed_dim)
            ]
            result.append(self.out_proj(mixed))
        return result


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        if not isinstance(num_heads, int) or num_heads < 1:
            raise ValueError("num_heads must be a positive int")
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ff = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        attended = self.attn([self.ln1(row) for row in x])
        x = [[a + b for a, b in zip(row, upd)] for row, upd in zip(x, attended)]
        return [[a + b for a, b in zip(row, self.ff(self.ln2(row)))] for row in x]


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
        self.token_embedding = Embedding(vocab_size, embed_dim)
        self.position_embedding = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.final_norm = LayerNorm(embed_dim)
        self.lm_head = Linear(embed_dim, vocab_size)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        T = len(token_ids)
        if T == 0 or T > self.max_seq_len:
            raise ValueError(f"need 1 <= T <= {self.max_seq_len}, got T={T}")
        toks = self.token_embedding(token_ids)
        poss = self.position_embedding(list(range(T)))
        x = [[a + b for a, b in zip(t, p)] for t, p in zip(toks, poss)]
        for block in self.blocks:
            x = block(x)
        return [self.lm_head(self.final_norm(row)) for row in x]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError("logits and targets must have the same length")
    losses = []
    for row, target in zip(logits, targets):
        biggest = max(z.data for z in row)
        log_total = Value.sum([(z - biggest).exp() for z in row]).log()
        losses.append(log_total + biggest - row[target])
    return Value.sum(losses) / len(losses)


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    tokens = list(start_ids)
    for _ in range(max_new_tokens):
        context = tokens[-model.max_seq_len :]
        last = model(context)[-1]
        probs = softmax([z / temperature for z in last])
        next_id = random.choices(range(len(probs)), weights=[p.data for p in probs])[0]
        tokens.append(next_id)
    return tokens
