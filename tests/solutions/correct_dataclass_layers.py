# ruff: noqa: B905, SIM300, UP033
"""Mini-GPT whose layers are dataclasses, with a cached causal mask and leaky ReLU.

Style: every layer is a ``@dataclass`` subclass of Module: the constructor
arguments are fields (so the signatures are exactly the statement's), and
``__post_init__`` builds the weights. With the dataclass default eq=True the
instances compare by value and are unhashable, as any dataclass is.
MiniGPT overrides parameters() to list the output head first and the
embeddings last (any fixed order is allowed). The causal mask is a tuple
of tuples of booleans from a functools.lru_cache'd function of T. The
activation is leaky ReLU (slope 0.01), written from Value.relu. generate
calls ``model.forward`` directly and applies the temperature as a
multiplication by 1 / temperature.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass, field

from engine import Value
from nn import Linear, Module


@functools.lru_cache(maxsize=None)
def causal_mask(T: int) -> tuple[tuple[bool, ...], ...]:
    """mask[i][j] is True when position i may look at position j."""
    return tuple(tuple(j <= i for j in range(T)) for i in range(T))


def leaky_relu(x: Value) -> Value:
    return x.relu() - 0.01 * (-x).relu()


def softmax(z: list[Value]) -> list[Value]:
    m = max(v.data for v in z)
    e = [(v - m).exp() for v in z]
    s = Value.sum(e)
    return [x / s for x in e]


@dataclass
class Embedding(Module):
    num_embeddings: int
    embedding_dim: int
    weight: list[list[Value]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.weight = [
            [Value(random.gauss(0.0, 1.0)) for _ in range(self.embedding_dim)]
            for _ in range(self.num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        for i in indices:
            if not 0 <= i < self.num_embeddings:
                raise ValueError(f"index {i} out of range for {self.num_embeddings} rows")
        return [list(self.weight[i]) for i in indices]


@dataclass
class LayerNorm(Module):
    dim: int
    eps: float = 1e-5
    gain: list[Value] = field(init=False, repr=False)
    bias: list[Value] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.gain = [Value(1.0) for _ in range(self.dim)]
        self.bias = [Value(0.0) for _ in range(self.dim)]

    def forward(self, x: list[Value]) -> list[Value]:
        mean = Value.sum(x) / len(x)
        c = [v - mean for v in x]
        var = Value.sum([t * t for t in c]) / len(x)
        inv = (var + self.eps) ** -0.5
        return [g * (t * inv) + b for t, g, b in zip(c, self.gain, self.bias)]


@dataclass
class FeedForward(Module):
    embed_dim: int
    hidden_dim: int | None = None
    fc1: Linear = field(init=False, repr=False)
    fc2: Linear = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.hidden_dim is None:
            self.hidden_dim = 4 * self.embed_dim
        self.fc1 = Linear(self.embed_dim, self.hidden_dim)
        self.fc2 = Linear(self.hidden_dim, self.embed_dim)

    def forward(self, x: list[Value]) -> list[Value]:
        return self.fc2([leaky_relu(h) for h in self.fc1(x)])


@dataclass
class SelfAttention(Module):
    embed_dim: int
    q: Linear = field(init=False, repr=False)
    k: Linear = field(init=False, repr=False)
    v: Linear = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.q = Linear(self.embed_dim, self.embed_dim, bias=False)
        self.k = Linear(self.embed_dim, self.embed_dim, bias=False)
        self.v = Linear(self.embed_dim, self.embed_dim, bias=False)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        T = len(x)
        mask = causal_mask(T)
        qs = [self.q(r) for r in x]
        ks = [self.k(r) for r in x]
        vs = [self.v(r) for r in x]
        scale = 1.0 / math.sqrt(self.embed_dim)
        out = []
        for i in range(T):
            js = [j for j in range(T) if mask[i][j] or not causal]
            w = softmax([Value.dot(qs[i], ks[j]) * scale for j in js])
            out.append([Value.dot(w, [vs[j][c] for j in js]) for c in range(self.embed_dim)])
        return out


@dataclass
class TransformerBlock(Module):
    embed_dim: int
    num_heads: int
    ln1: LayerNorm = field(init=False, repr=False)
    attn: SelfAttention = field(init=False, repr=False)
    ln2: LayerNorm = field(init=False, repr=False)
    ff: FeedForward = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.num_heads < 1:
            raise ValueError("num_heads must be at least 1")
        self.ln1 = LayerNorm(self.embed_dim)
        self.attn = SelfAttention(self.embed_dim)
        self.ln2 = LayerNorm(self.embed_dim)
        self.ff = FeedForward(self.embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        a = self.attn([self.ln1(r) for r in x])
        x = [[p + q for p, q in zip(r, s)] for r, s in zip(x, a)]
        return [[p + q for p, q in zip(r, self.ff(self.ln2(r)))] for r in x]


@dataclass
class MiniGPT(Module):
    vocab_size: int
    embed_dim: int
    num_heads: int
    num_layers: int
    max_seq_len: int
    tok_emb: Embedding = field(init=False, repr=False)
    pos_emb: Embedding = field(init=False, repr=False)
    blocks: list[TransformerBlock] = field(init=False, repr=False)
    ln_f: LayerNorm = field(init=False, repr=False)
    head: Linear = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tok_emb = Embedding(self.vocab_size, self.embed_dim)
        self.pos_emb = Embedding(self.max_seq_len, self.embed_dim)
        self.blocks = [
            TransformerBlock(self.embed_dim, self.num_heads) for _ in range(self.num_layers)
        ]
        self.ln_f = LayerNorm(self.embed_dim)
        self.head = Linear(self.embed_dim, self.vocab_size)

    def parameters(self) -> list[Value]:
        params = self.head.parameters() + self.ln_f.parameters()
        for block in reversed(self.blocks):
            params += block.parameters()
        return params + self.pos_emb.parameters() + self.tok_emb.parameters()

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        T = len(token_ids)
        if T < 1 or T > self.max_seq_len:
            raise ValueError(f"T={T} not in 1..{self.max_seq_len}")
        x = [
            [a + b for a, b in zip(t, p)]
            for t, p in zip(self.tok_emb(token_ids), self.pos_emb(list(range(T))))
        ]
        for block in self.blocks:
            x = block(x)
        return [self.head(self.ln_f(r)) for r in x]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError("logits and targets disagree in length")
    terms = []
    for row, y in zip(logits, targets):
        m = max(v.data for v in row)
        terms.append(Value.sum([(v - m).exp() for v in row]).log() + m - row[y])
    return Value.sum(terms) / len(terms)


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    ids = list(start_ids)
    inv_t = 1.0 / temperature
    for _ in range(max_new_tokens):
        last = model.forward(ids[-model.max_seq_len :])[-1]
        probs = softmax([z * inv_t for z in last])
        ids.append(random.choices(range(len(probs)), weights=[p.data for p in probs])[0])
    return ids
