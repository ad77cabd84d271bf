# ruff: noqa: B905, SIM300, RUF023
"""Mini-GPT whose weights live in small wrapper objects, in classes with __slots__.

Style: a weight is never a bare list of Values on a module. ``Tensor`` (NOT a
Module) holds a rows x cols grid of Values and has its own ``parameters()``;
``Vector`` is a Module holding one row. Every layer declares its attributes
in ``__slots__``, so they are not in the instance ``__dict__`` and
``Module.parameters()`` cannot find them: each class therefore writes its own
``parameters()`` that lists every weight, in a fixed order. The model's
vocab_size and max_seq_len are slot attributes too. My own ``Dense`` layer
replaces nn.Linear; the feed-forward uses ReLU; norms have gain and bias.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from engine import Value
from nn import Module


class Tensor:
    """A grid of trainable Values (a plain object, not a Module)."""

    __slots__ = ("grid",)

    def __init__(self, rows: int, cols: int, init: Callable[[], float]) -> None:
        self.grid = [[Value(init()) for _ in range(cols)] for _ in range(rows)]

    def row(self, i: int) -> list[Value]:
        return self.grid[i]

    def parameters(self) -> list[Value]:
        return [v for r in self.grid for v in r]


class Vector(Module):
    """One trainable row (a Module, found by Module.parameters() of its owner)."""

    __slots__ = ("values",)

    def __init__(self, size: int, fill: float) -> None:
        self.values = [Value(fill) for _ in range(size)]

    def parameters(self) -> list[Value]:
        return list(self.values)


class Dense(Module):
    __slots__ = ("w", "b", "n_in")

    def __init__(self, n_in: int, n_out: int, bias: bool = True) -> None:
        bound = 1.0 / math.sqrt(n_in)
        self.n_in = n_in
        self.w = Tensor(n_out, n_in, lambda: random.uniform(-bound, bound))
        self.b = Vector(n_out, 0.0) if bias else None

    def parameters(self) -> list[Value]:
        return self.w.parameters() + (self.b.parameters() if self.b is not None else [])

    def forward(self, x: list[Value]) -> list[Value]:
        outs = [Value.dot(r, x) for r in self.w.grid]
        if self.b is None:
            return outs
        return [o + c for o, c in zip(outs, self.b.values)]


class Embedding(Module):
    __slots__ = ("table", "count")

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.count = num_embeddings
        self.table = Tensor(num_embeddings, embedding_dim, lambda: random.gauss(0.0, 1.0))

    def parameters(self) -> list[Value]:
        return self.table.parameters()

    def forward(self, indices: list[int]) -> list[list[Value]]:
        out = []
        for i in indices:
            if not 0 <= i < self.count:
                raise ValueError(f"index {i} is not in 0..{self.count - 1}")
            out.append(list(self.table.row(i)))
        return out


class LayerNorm(Module):
    __slots__ = ("gain", "shift", "eps")

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.eps = eps
        self.gain = Vector(dim, 1.0)
        self.shift = Vector(dim, 0.0)

    def parameters(self) -> list[Value]:
        return self.gain.parameters() + self.shift.parameters()

    def forward(self, x: list[Value]) -> list[Value]:
        mean = Value.sum(x) / len(x)
        dev = [v - mean for v in x]
        var = Value.sum([d * d for d in dev]) / len(x)
        inv = (var + self.eps) ** -0.5
        return [g * d * inv + s for d, g, s in zip(dev, self.gain.values, self.shift.values)]


class FeedForward(Module):
    __slots__ = ("up", "down")

    def __init__(self, embed_dim: int, hidden_dim: int | None = None) -> None:
        hidden = hidden_dim if hidden_dim is not None else 4 * embed_dim
        self.up = Dense(embed_dim, hidden)
        self.down = Dense(hidden, embed_dim)

    def parameters(self) -> list[Value]:
        return self.up.parameters() + self.down.parameters()

    def forward(self, x: list[Value]) -> list[Value]:
        return self.down([h.relu() for h in self.up(x)])


class SelfAttention(Module):
    __slots__ = ("q", "k", "v", "dim")

    def __init__(self, embed_dim: int) -> None:
        self.dim = embed_dim
        self.q = Dense(embed_dim, embed_dim, bias=False)
        self.k = Dense(embed_dim, embed_dim, bias=False)
        self.v = Dense(embed_dim, embed_dim, bias=False)

    def parameters(self) -> list[Value]:
        return self.q.parameters() + self.k.parameters() + self.v.parameters()

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        qs = [self.q(r) for r in x]
        ks = [self.k(r) for r in x]
        vs = [self.v(r) for r in x]
        root = math.sqrt(self.dim)
        result = []
        for i in range(len(x)):
            last = i if causal else len(x) - 1
            scores = [Value.dot(qs[i], ks[j]) / root for j in range(last + 1)]
            peak = max(s.data for s in scores)
            ex = [(s - peak).exp() for s in scores]
            tot = Value.sum(ex)
            att = [e / tot for e in ex]
            result.append(
                [Value.dot(att, [vs[j][c] for j in range(last + 1)]) for c in range(self.dim)]
            )
        return result


class TransformerBlock(Module):
    __slots__ = ("ln1", "attn", "ln2", "ff")

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        if num_heads < 1:
            raise ValueError("num_heads must be >= 1")
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ff = FeedForward(embed_dim)

    def parameters(self) -> list[Value]:
        return (
            self.ln1.parameters()
            + self.attn.parameters()
            + self.ln2.parameters()
            + self.ff.parameters()
        )

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        a = self.attn([self.ln1(r) for r in x])
        x = [[p + q for p, q in zip(r, s)] for r, s in zip(x, a)]
        return [[p + q for p, q in zip(r, self.ff(self.ln2(r)))] for r in x]


class MiniGPT(Module):
    __slots__ = ("vocab_size", "max_seq_len", "tok", "pos", "blocks", "ln_f", "head")

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
        self.tok = Embedding(vocab_size, embed_dim)
        self.pos = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.head = Dense(embed_dim, vocab_size)

    def parameters(self) -> list[Value]:
        params = self.tok.parameters() + self.pos.parameters()
        for block in self.blocks:
            params += block.parameters()
        return params + self.ln_f.parameters() + self.head.parameters()

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        T = len(token_ids)
        if T < 1 or T > self.max_seq_len:
            raise ValueError(f"sequence of {T} tokens; allowed 1..{self.max_seq_len}")
        x = [
            [a + b for a, b in zip(t, p)]
            for t, p in zip(self.tok(token_ids), self.pos(list(range(T))))
        ]
        for block in self.blocks:
            x = block(x)
        return [self.head(self.ln_f(r)) for r in x]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError("logits and targets have different lengths")
    terms = []
    for row, y in zip(logits, targets):
        peak = max(z.data for z in row)
        terms.append((Value.sum([(z - peak).exp() for z in row])).log() + peak - row[y])
    return Value.sum(terms) / len(terms)


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    tokens = list(start_ids)
    for _ in range(max_new_tokens):
        logits = model(tokens[-model.max_seq_len :])[-1]
        z = [v.data / temperature for v in logits]
        peak = max(z)
        w = [math.exp(a - peak) for a in z]
        total = sum(w)
        tokens.append(random.choices(range(len(w)), weights=[a / total for a in w])[0])
    return tokens
