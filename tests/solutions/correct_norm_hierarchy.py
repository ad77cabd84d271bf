# ruff: noqa: B905
"""Mini-GPT built from a class hierarchy of my own, with parameter-free LayerNorm.

Style: LayerNorm does not define ``forward``: it inherits it from an abstract
``_Norm(Module, ABC)`` base, whose forward normalises and then calls the hook
``_affine``; LayerNorm's hook returns the normalised vector as is, so every
norm here (in the blocks and the final one) has no parameter at all.
Layers are composed with a Sequential-like ``Chain`` (FeedForward and
TransformerBlock ARE Chains and inherit its forward), ``PerRow`` lifts a
vector layer to a sequence, ``Residual`` adds its input back, and a
``RowOps`` mixin supplies the row-wise addition. Attention projections have
biases; the activation is a parameter-free ReLU module.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from typing import Any

from engine import Value
from nn import Linear, Module


class RowOps:
    """Mixin: element-wise helpers on vectors and sequences of vectors."""

    @staticmethod
    def add_vectors(a: list[Value], b: list[Value]) -> list[Value]:
        return [x + y for x, y in zip(a, b)]

    def add_sequences(self, a: list[list[Value]], b: list[list[Value]]) -> list[list[Value]]:
        return [self.add_vectors(r, s) for r, s in zip(a, b)]


class Chain(Module):
    """Apply steps one after the other (like torch.nn.Sequential)."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)

    def forward(self, x: Any) -> Any:
        for step in self.steps:
            x = step(x)
        return x


class PerRow(Module):
    """Apply a vector -> vector layer to every row of a sequence."""

    def __init__(self, layer: Module) -> None:
        self.layer = layer

    def forward(self, rows: list[list[Value]]) -> list[list[Value]]:
        return [self.layer(r) for r in rows]


class Residual(RowOps, Module):
    """x -> x + inner(x), row by row."""

    def __init__(self, inner: Module) -> None:
        self.inner = inner

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        return self.add_sequences(x, self.inner(x))


class ReLU(Module):
    def forward(self, x: list[Value]) -> list[Value]:
        return [v.relu() for v in x]


class _Norm(Module, ABC):
    """Normalise to zero mean and unit (population) variance, then call the hook."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.dim = dim
        self.eps = eps

    def forward(self, x: list[Value]) -> list[Value]:
        return self._affine(self._normalise(x))

    def _normalise(self, x: list[Value]) -> list[Value]:
        mean = Value.sum(x) / len(x)
        centred = [v - mean for v in x]
        var = Value.sum([c * c for c in centred]) / len(x)
        inv = (var + self.eps) ** -0.5
        return [c * inv for c in centred]

    @abstractmethod
    def _affine(self, normed: list[Value]) -> list[Value]:
        """What to do with the normalised vector."""


class LayerNorm(_Norm):
    """Plain normalisation, no learnable gain or bias."""

    def _affine(self, normed: list[Value]) -> list[Value]:
        return normed


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.table = [
            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        if any(i < 0 or i >= len(self.table) for i in indices):
            raise ValueError("embedding index out of range")
        return [self.table[i][:] for i in indices]


class FeedForward(Chain):
    def __init__(self, embed_dim: int, hidden_dim: int | None = None) -> None:
        width = hidden_dim if hidden_dim is not None else 4 * embed_dim
        super().__init__(Linear(embed_dim, width), ReLU(), Linear(width, embed_dim))


class SelfAttention(Module):
    def __init__(self, embed_dim: int) -> None:
        self.scale = 1.0 / math.sqrt(embed_dim)
        self.to_q = Linear(embed_dim, embed_dim)
        self.to_k = Linear(embed_dim, embed_dim)
        self.to_v = Linear(embed_dim, embed_dim)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        q = [self.to_q(r) for r in x]
        k = [self.to_k(r) for r in x]
        v = [self.to_v(r) for r in x]
        out = []
        for i in range(len(x)):
            js = range(i + 1) if causal else range(len(x))
            s = [Value.dot(q[i], k[j]) * self.scale for j in js]
            top = max(t.data for t in s)
            e = [(t - top).exp() for t in s]
            norm = Value.sum(e)
            w = [ei / norm for ei in e]
            out.append([Value.dot(w, [v[j][c] for j in js]) for c in range(len(x[i]))])
        return out


class TransformerBlock(Chain):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        if num_heads < 1:
            raise ValueError("num_heads must be at least 1")
        super().__init__(
            Residual(Chain(PerRow(LayerNorm(embed_dim)), SelfAttention(embed_dim))),
            Residual(PerRow(Chain(LayerNorm(embed_dim), FeedForward(embed_dim)))),
        )


class MiniGPT(RowOps, Module):
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
        self.tokens = Embedding(vocab_size, embed_dim)
        self.places = Embedding(max_seq_len, embed_dim)
        self.trunk = Chain(*[TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)])
        self.readout = PerRow(Chain(LayerNorm(embed_dim), Linear(embed_dim, vocab_size)))

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        n = len(token_ids)
        if not 0 < n <= self.max_seq_len:
            raise ValueError(f"{n} tokens; the model takes 1 to {self.max_seq_len}")
        x = self.add_sequences(self.tokens(token_ids), self.places(list(range(n))))
        return self.readout(self.trunk(x))


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError("need exactly one target per position")
    nll = []
    for row, t in zip(logits, targets):
        top = max(z.data for z in row)
        nll.append(top + Value.sum([(z - top).exp() for z in row]).log() - row[t])
    return Value.sum(nll) / len(nll)


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    ids = list(start_ids)
    for _ in range(max_new_tokens):
        row = model(ids[-model.max_seq_len :])[-1]
        scaled = [z / temperature for z in row]
        top = max(s.data for s in scaled)
        e = [(s - top).exp() for s in scaled]
        total = Value.sum(e)
        probs = [(x / total).data for x in e]
        ids.append(random.choices(list(range(len(probs))), weights=probs)[0])
    return ids
