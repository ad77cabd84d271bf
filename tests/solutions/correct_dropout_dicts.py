# ruff: noqa: B905, SIM300
"""Mini-GPT with dropout layers (p = 0.0 by default) and weights kept in dicts.

Style: a ``Dropout(p=0.0)`` module sits after the embeddings, after the
attention weights, and after each residual branch, as in nanoGPT. It is
written the usual way: while ``training`` is True it draws one
random.random() per element and keeps the element when the draw is >= p,
scaling kept ones by 1/(1-p). With the default p = 0.0 every element is
kept and scaled by 1, so the forward pass is deterministic (it still draws
from the random module, as such a layer does). MiniGPT takes an extra
``dropout=0.0`` keyword. Attention keeps its three projections in a dict
keyed "query"/"key"/"value"; the blocks live in a dict keyed "block0",
"block1", ...; the model registers its parts in another order than it uses
them (head first, embeddings last). GELU (tanh form, math.tanh on Values).
"""

from __future__ import annotations

import math
import random

from engine import Value
from nn import Linear, Module


class Dropout(Module):
    def __init__(self, p: float = 0.0) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError("dropout probability must be in [0, 1)")
        self.p = p
        self.training = True

    def forward(self, x: list[Value]) -> list[Value]:
        if not self.training:
            return x
        keep_scale = 1.0 / (1.0 - self.p)
        return [v * keep_scale if random.random() >= self.p else v * 0.0 for v in x]


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.vectors = {
            i: [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
            for i in range(num_embeddings)
        }

    def forward(self, indices: list[int]) -> list[list[Value]]:
        rows = []
        for i in indices:
            if i not in self.vectors:
                raise ValueError(f"unknown index {i}")
            rows.append(list(self.vectors[i]))
        return rows


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.params = {
            "gain": [Value(1.0) for _ in range(dim)],
            "bias": [Value(0.0) for _ in range(dim)],
        }
        self.eps = eps

    def forward(self, x: list[Value]) -> list[Value]:
        avg = Value.sum(x) / len(x)
        cx = [v - avg for v in x]
        var = Value.sum([c * c for c in cx]) / len(x)
        scale = (var + self.eps) ** -0.5
        gain, bias = self.params["gain"], self.params["bias"]
        return [gain[i] * cx[i] * scale + bias[i] for i in range(len(x))]


def gelu(x: Value) -> Value:
    return 0.5 * x * (1.0 + (math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)).tanh())


class FeedForward(Module):
    def __init__(self, embed_dim: int, hidden_dim: int | None = None, dropout: float = 0.0) -> None:
        hidden = hidden_dim if hidden_dim is not None else 4 * embed_dim
        self.layers = {"fc": Linear(embed_dim, hidden), "proj": Linear(hidden, embed_dim)}
        self.drop = Dropout(dropout)

    def forward(self, x: list[Value]) -> list[Value]:
        h = [gelu(v) for v in self.layers["fc"](x)]
        return self.drop(self.layers["proj"](h))


class SelfAttention(Module):
    def __init__(self, embed_dim: int, dropout: float = 0.0) -> None:
        self.embed_dim = embed_dim
        self.proj = {
            name: Linear(embed_dim, embed_dim, bias=False) for name in ("query", "key", "value")
        }
        self.attn_drop = Dropout(dropout)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        q = [self.proj["query"](r) for r in x]
        k = [self.proj["key"](r) for r in x]
        v = [self.proj["value"](r) for r in x]
        T = len(x)
        out = []
        for i in range(T):
            span = range(i + 1) if causal else range(T)
            raw = [Value.dot(q[i], k[j]) / math.sqrt(self.embed_dim) for j in span]
            hi = max(r.data for r in raw)
            ex = [(r - hi).exp() for r in raw]
            den = Value.sum(ex)
            wts = self.attn_drop([e / den for e in ex])
            out.append([Value.dot(wts, [v[j][c] for j in span]) for c in range(self.embed_dim)])
        return out


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0) -> None:
        if num_heads < 1:
            raise ValueError("num_heads must be positive")
        self.ff = FeedForward(embed_dim, dropout=dropout)
        self.ln2 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim, dropout=dropout)
        self.ln1 = LayerNorm(embed_dim)
        self.resid_drop = Dropout(dropout)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        att = self.attn([self.ln1(r) for r in x])
        x = [[a + b for a, b in zip(r, self.resid_drop(s))] for r, s in zip(x, att)]
        return [[a + b for a, b in zip(r, self.ff(self.ln2(r)))] for r in x]


class MiniGPT(Module):
    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        num_heads: int,
        num_layers: int,
        max_seq_len: int,
        dropout: float = 0.0,
    ) -> None:
        self.head = Linear(embed_dim, vocab_size)
        self.ln_f = LayerNorm(embed_dim)
        self.blocks = {
            f"block{n}": TransformerBlock(embed_dim, num_heads, dropout) for n in range(num_layers)
        }
        self.emb_drop = Dropout(dropout)
        self.embeddings = {
            "position": Embedding(max_seq_len, embed_dim),
            "token": Embedding(vocab_size, embed_dim),
        }
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        T = len(token_ids)
        if T == 0 or T > self.max_seq_len:
            raise ValueError(f"got {T} tokens, the context holds 1..{self.max_seq_len}")
        tok = self.embeddings["token"](token_ids)
        pos = self.embeddings["position"](list(range(T)))
        x = [self.emb_drop([a + b for a, b in zip(t, p)]) for t, p in zip(tok, pos)]
        for n in range(len(self.blocks)):
            x = self.blocks[f"block{n}"](x)
        return [self.head(self.ln_f(r)) for r in x]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError("logits and targets must line up")
    total = Value(0.0)
    for row, y in zip(logits, targets):
        m = max(z.data for z in row)
        total = total + (Value.sum([(z - m).exp() for z in row]).log() + m - row[y])
    return total / len(targets)


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    result = list(start_ids)
    for _ in range(max_new_tokens):
        logits = model(result[-model.max_seq_len :])[-1]
        scaled = [z / temperature for z in logits]
        m = max(s.data for s in scaled)
        ex = [(s - m).exp() for s in scaled]
        den = Value.sum(ex)
        probs = [(e / den).data for e in ex]
        result.append(random.choices(range(len(probs)), weights=probs)[0])
    return result
