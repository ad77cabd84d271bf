# ruff: noqa: B905, SIM300
"""Mini-GPT with bias-only norms and a fused query/key/value projection.

Style: every LayerNorm normalises and then adds a learnable bias, with NO
gain (the scale stays 1). Attention computes q, k and v with ONE
Linear(D, 3D) whose output is split into three slices of D, as nanoGPT's
c_attn does. The blocks live in a tuple, the position ids are a tuple built
once in __init__ (a "cache" of position indices, sliced to T), and the
feed-forward uses tanh. generate samples by walking the unnormalised
weights exp(z/T - max) against random.uniform(0, total).
"""

from __future__ import annotations

import math
import random

from engine import Value
from nn import Linear, Module


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.num_embeddings = num_embeddings
        self.rows = [
            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        bad = [i for i in indices if not 0 <= i < self.num_embeddings]
        if bad:
            raise ValueError(f"indices out of range: {bad}")
        return [list(self.rows[i]) for i in indices]


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.eps = eps
        self.shift = [Value(0.0) for _ in range(dim)]

    def forward(self, x: list[Value]) -> list[Value]:
        d = len(x)
        mean = Value.sum(x) / d
        var = Value.sum([(xi - mean) ** 2 for xi in x]) / d
        std = (var + self.eps) ** 0.5
        return [(xi - mean) / std + b for xi, b in zip(x, self.shift)]


class FeedForward(Module):
    def __init__(self, embed_dim: int, hidden_dim: int | None = None) -> None:
        hidden = 4 * embed_dim if hidden_dim is None else hidden_dim
        self.expand = Linear(embed_dim, hidden)
        self.contract = Linear(hidden, embed_dim)

    def forward(self, x: list[Value]) -> list[Value]:
        return self.contract([h.tanh() for h in self.expand(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim: int) -> None:
        self.embed_dim = embed_dim
        self.qkv = Linear(embed_dim, 3 * embed_dim, bias=False)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        D = self.embed_dim
        q, k, v = [], [], []
        for row in x:
            fused = self.qkv(row)
            q.append(fused[:D])
            k.append(fused[D : 2 * D])
            v.append(fused[2 * D :])
        inv_sqrt_d = D**-0.5
        outputs = []
        for i, qi in enumerate(q):
            keys = k[: i + 1] if causal else k
            vals = v[: i + 1] if causal else v
            scores = [Value.dot(qi, kj) * inv_sqrt_d for kj in keys]
            m = max(s.data for s in scores)
            exps = [(s - m).exp() for s in scores]
            z = Value.sum(exps)
            att = [e / z for e in exps]
            outputs.append([Value.dot(att, [vj[c] for vj in vals]) for c in range(D)])
        return outputs


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        if num_heads < 1:
            raise ValueError("need at least one head")
        self.norm_attn = LayerNorm(embed_dim)
        self.attention = SelfAttention(embed_dim)
        self.norm_ff = LayerNorm(embed_dim)
        self.feed_forward = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        delta = self.attention([self.norm_attn(r) for r in x])
        x = [[xi + di for xi, di in zip(r, dr)] for r, dr in zip(x, delta)]
        return [[xi + fi for xi, fi in zip(r, self.feed_forward(self.norm_ff(r)))] for r in x]


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
        self.positions = tuple(range(max_seq_len))
        self.token_table = Embedding(vocab_size, embed_dim)
        self.position_table = Embedding(max_seq_len, embed_dim)
        self.blocks = tuple(TransformerBlock(embed_dim, num_heads) for _ in range(num_layers))
        self.final_ln = LayerNorm(embed_dim)
        self.head = Linear(embed_dim, vocab_size)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        T = len(token_ids)
        if T == 0 or T > self.max_seq_len:
            raise ValueError(f"length {T} outside 1..{self.max_seq_len}")
        tok = self.token_table(token_ids)
        pos = self.position_table(self.positions[:T])
        h = [[a + b for a, b in zip(tr, pr)] for tr, pr in zip(tok, pos)]
        for blk in self.blocks:
            h = blk(h)
        return [self.head(self.final_ln(r)) for r in h]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError("logits and targets differ in length")
    T = len(targets)
    acc = []
    for row, tgt in zip(logits, targets):
        m = max(z.data for z in row)
        shifted = [z - m for z in row]
        acc.append(Value.sum([s.exp() for s in shifted]).log() - shifted[tgt])
    return Value.sum(acc) * (1.0 / T)


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    seq = list(start_ids)
    for _ in range(max_new_tokens):
        last = model(seq[-model.max_seq_len :])[-1]
        scaled = [z.data / temperature for z in last]
        m = max(scaled)
        weights = [math.exp(s - m) for s in scaled]
        r = random.uniform(0.0, sum(weights))
        choice = max(i for i, w in enumerate(weights) if w > 0.0)
        running = 0.0
        for i, w in enumerate(weights):
            running += w
            if r < running:
                choice = i
                break
        seq.append(choice)
    return seq
