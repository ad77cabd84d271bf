"""Mini-GPT without a single bias, and with a parameter-free LayerNorm.

Every Linear is built with bias=False (the output head too) and LayerNorm
only normalises, with no gain or shift to learn. ``generate`` leaves the
autograd world: it turns the last logits into plain floats, does the
softmax with math.exp and samples by bisecting the cumulative sums with one
random.random() draw. The loss is the mean of -log softmax(z)[y], with the
logarithm of the softmax taken in log space.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import operator
import random

from engine import Value
from nn import Linear, Module


def vsum(values):
    """Sum of Values by repeated +: fine for the short vectors of this model."""
    return functools.reduce(operator.add, values)


def add_rows(a, b):
    return [list(map(operator.add, ra, rb)) for ra, rb in zip(a, b, strict=True)]


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim):
        self.rows = [
            [Value(random.gauss(0.0, 0.5)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices):
        if min(indices, default=0) < 0 or max(indices, default=0) >= len(self.rows):
            raise ValueError("index out of range")
        return [self.rows[i] for i in indices]


class LayerNorm(Module):
    """(x - mean) / sqrt(var + eps), with no learnable parameters."""

    def __init__(self, dim, eps=1e-5):
        self.dim = dim
        self.eps = eps

    def forward(self, x):
        mean = vsum(x) * (1.0 / len(x))
        d = [xi - mean for xi in x]
        var = vsum([di * di for di in d]) * (1.0 / len(x))
        denom = (var + self.eps) ** 0.5
        return [di / denom for di in d]


class FeedForward(Module):
    def __init__(self, embed_dim, hidden_dim=None):
        hidden_dim = hidden_dim or 4 * embed_dim
        self.w_in = Linear(embed_dim, hidden_dim, bias=False)
        self.w_out = Linear(hidden_dim, embed_dim, bias=False)

    def forward(self, x):
        return self.w_out([h.relu() for h in self.w_in(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim):
        self.dim = embed_dim
        self.to_q = Linear(embed_dim, embed_dim, bias=False)
        self.to_k = Linear(embed_dim, embed_dim, bias=False)
        self.to_v = Linear(embed_dim, embed_dim, bias=False)
        self.to_out = Linear(embed_dim, embed_dim, bias=False)

    def forward(self, x, causal=True):
        qs = list(map(self.to_q, x))
        ks = list(map(self.to_k, x))
        vs = list(map(self.to_v, x))
        outs = []
        for i, q in enumerate(qs):
            end = i + 1 if causal else len(x)
            scores = [Value.dot(q, k) * (self.dim**-0.5) for k in ks[:end]]
            top = max(s.data for s in scores)
            e = [(s - top).exp() for s in scores]
            z = vsum(e)
            w = [ei / z for ei in e]
            mixed = [Value.dot(w, column) for column in zip(*vs[:end], strict=True)]
            outs.append(self.to_out(mixed))
        return outs


class TransformerBlock(Module):
    def __init__(self, embed_dim, num_heads):
        self.ln1 = LayerNorm(embed_dim)
        self.sa = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ffwd = FeedForward(embed_dim)

    def forward(self, x):
        x = add_rows(x, self.sa([self.ln1(r) for r in x]))
        x = add_rows(x, [self.ffwd(self.ln2(r)) for r in x])
        return x


class MiniGPT(Module):
    def __init__(self, vocab_size, embed_dim, num_heads, num_layers, max_seq_len):
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.token_embedding_table = Embedding(vocab_size, embed_dim)
        self.position_embedding_table = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.lm_head = Linear(embed_dim, vocab_size, bias=False)

    def forward(self, token_ids):
        if len(token_ids) > self.max_seq_len:
            raise ValueError(f"context of {len(token_ids)} > max_seq_len {self.max_seq_len}")
        x = add_rows(
            self.token_embedding_table(token_ids),
            self.position_embedding_table(list(range(len(token_ids)))),
        )
        for block in self.blocks:
            x = block(x)
        return [self.lm_head(self.ln_f(r)) for r in x]


def log_softmax(row):
    top = max(z.data for z in row)
    log_z = vsum([(z - top).exp() for z in row]).log()
    return [z - top - log_z for z in row]


def cross_entropy_loss(logits, targets):
    if len(logits) != len(targets):
        raise ValueError("one target per position is needed")
    nlls = [-log_softmax(row)[y] for row, y in zip(logits, targets, strict=True)]
    return vsum(nlls) * (1.0 / len(nlls))


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    seq = list(start_ids)
    for _ in range(max_new_tokens):
        last = [z.data for z in model(seq[-model.max_seq_len :])[-1]]
        scaled = [z / temperature for z in last]
        top = max(scaled)
        weights = [math.exp(s - top) for s in scaled]
        cumulative = list(itertools.accumulate(weights))
        r = random.random() * cumulative[-1]
        seq.append(min(bisect.bisect_right(cumulative, r), len(cumulative) - 1))
    return seq
