# ruff: noqa: B905
"""Mini-GPT in a functional style, with top-k / top-p sampling that is off by default.

Style: the maths lives in module-level pure functions (``layer_norm``,
``attend``, ``log_softmax``, ...) and the classes only hold weights and call
them; the activation is picked by name from a dict of functions
(``activation="relu"`` by default). ``generate`` accepts extra keyword
arguments ``top_k=None`` and ``top_p=None``: when given they keep only the
k most likely tokens / the smallest set whose probability reaches p, but by
default (None) sampling is plain softmax(logits / temperature) sampling.
A temperature of exactly 0 means greedy decoding. Sampling draws
random.random() once per token and bisects the running sums
(itertools.accumulate + bisect).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Callable
from functools import partial

from engine import Value
from nn import Linear, Module

ACTIVATIONS: dict[str, Callable[[Value], Value]] = {
    "relu": Value.relu,
    "tanh": Value.tanh,
}


def layer_norm(x: list[Value], gain: list[Value], bias: list[Value], eps: float) -> list[Value]:
    n = len(x)
    mu = Value.sum(x) / n
    d = [xi - mu for xi in x]
    inv = (Value.dot(d, d) / n + eps) ** -0.5
    return [g * di * inv + b for di, g, b in zip(d, gain, bias)]


def softmax(z: list[Value]) -> list[Value]:
    top = max(v.data for v in z)
    e = [(v - top).exp() for v in z]
    s = Value.sum(e)
    return [ei / s for ei in e]


def log_softmax(z: list[Value]) -> list[Value]:
    top = max(v.data for v in z)
    lse = Value.sum([(v - top).exp() for v in z]).log() + top
    return [v - lse for v in z]


def attend(q: list[Value], keys: list[list[Value]], values: list[list[Value]]) -> list[Value]:
    """One query against its visible keys: softmax(q.k / sqrt(D)) weighted sum of values."""
    scale = 1.0 / math.sqrt(len(q))
    w = softmax([Value.dot(q, k) * scale for k in keys])
    return [Value.dot(w, column) for column in zip(*values)]


def add_rows(a: list[list[Value]], b: list[list[Value]]) -> list[list[Value]]:
    return [[x + y for x, y in zip(r, s)] for r, s in zip(a, b)]


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.weight = [
            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        size = len(self.weight)
        if any(not 0 <= i < size for i in indices):
            raise ValueError(f"indices must lie in 0..{size - 1}")
        return [list(self.weight[i]) for i in indices]


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.gain = [Value(1.0) for _ in range(dim)]
        self.bias = [Value(0.0) for _ in range(dim)]
        self.eps = eps

    def forward(self, x: list[Value]) -> list[Value]:
        return layer_norm(x, self.gain, self.bias, self.eps)


class FeedForward(Module):
    def __init__(
        self, embed_dim: int, hidden_dim: int | None = None, activation: str = "relu"
    ) -> None:
        hidden = 4 * embed_dim if hidden_dim is None else hidden_dim
        self.first = Linear(embed_dim, hidden)
        self.second = Linear(hidden, embed_dim)
        self.activation = activation

    def forward(self, x: list[Value]) -> list[Value]:
        act = ACTIVATIONS[self.activation]
        return self.second(list(map(act, self.first(x))))


class SelfAttention(Module):
    def __init__(self, embed_dim: int) -> None:
        self.q = Linear(embed_dim, embed_dim, bias=False)
        self.k = Linear(embed_dim, embed_dim, bias=False)
        self.v = Linear(embed_dim, embed_dim, bias=False)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        qs, ks, vs = (list(map(f, x)) for f in (self.q, self.k, self.v))
        if causal:
            return [attend(q, ks[: i + 1], vs[: i + 1]) for i, q in enumerate(qs)]
        return list(map(partial(attend, keys=ks, values=vs), qs))


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        if num_heads < 1:
            raise ValueError("num_heads must be positive")
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ff = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        x = add_rows(x, self.attn(list(map(self.ln1, x))))
        return add_rows(x, [self.ff(self.ln2(r)) for r in x])


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
        self.token_emb = Embedding(vocab_size, embed_dim)
        self.pos_emb = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.lm_head = Linear(embed_dim, vocab_size)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        if not 1 <= len(token_ids) <= self.max_seq_len:
            raise ValueError(f"expected 1..{self.max_seq_len} tokens, got {len(token_ids)}")
        x = add_rows(self.token_emb(token_ids), self.pos_emb(list(range(len(token_ids)))))
        for block in self.blocks:
            x = block(x)
        return [self.lm_head(self.ln_f(r)) for r in x]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError("logits and targets must have the same length")
    picked = [log_softmax(row)[y] for row, y in zip(logits, targets)]
    return -Value.sum(picked) / len(picked)


def _filter(probs: list[float], top_k: int | None, top_p: float | None) -> list[float]:
    keep = set(range(len(probs)))
    order = sorted(range(len(probs)), key=lambda i: probs[i], reverse=True)
    if top_k:
        keep &= set(order[:top_k])
    if top_p is not None and top_p < 1.0:
        nucleus, mass = set(), 0.0
        for i in order:
            nucleus.add(i)
            mass += probs[i]
            if mass >= top_p:
                break
        keep &= nucleus
    return [p if i in keep else 0.0 for i, p in enumerate(probs)]


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> list[int]:
    out = list(start_ids)
    for _ in range(max_new_tokens):
        z = [v.data for v in model(out[-model.max_seq_len :])[-1]]
        if temperature == 0:
            out.append(max(range(len(z)), key=lambda i: z[i]))
            continue
        scaled = [v / temperature for v in z]
        top = max(scaled)
        e = [math.exp(v - top) for v in scaled]
        s = sum(e)
        probs = _filter([x / s for x in e], top_k, top_p)
        cumulative = list(itertools.accumulate(probs))
        r = random.random() * cumulative[-1]
        i = bisect.bisect_right(cumulative, r)
        if i >= len(probs):
            i = max(j for j, p in enumerate(probs) if p > 0.0)
        out.append(i)
    return out
