# ruff: noqa: B905, SIM300
"""Mini-GPT with a frozen config dataclass, a tied output head and its own RNG for init.

Style: MiniGPT builds a frozen ``GPTConfig`` dataclass from its arguments and
accepts two extra keywords: ``seed=0`` (the weights are drawn from a private
``random.Random(seed)``: every model built with the same seed starts from
the same weights, whatever the state of the global random module, which
construction leaves alone) and ``init_std`` (GPT-2's 0.02). Init is GPT-2's: N(0, 0.02)
for every matrix and both tables, residual-writing projections scaled by
1/sqrt(2 * num_layers). The output head is TIED to the token table: logit v
is row v of the token table dotted with the final hidden vector, plus a
per-token bias. Attention weights are matrices in a dict keyed by strings
("Wq", "Wk", "Wv", "Wo"), with the output projection; blocks sit in a dict
keyed by layer number; the position ids are a precomputed tuple. Layers
also take an optional ``rng`` keyword. forward takes an optional
``targets`` and then returns (logits, loss), nanoGPT-style.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from engine import Value
from nn import Module


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    embed_dim: int
    num_layers: int
    max_seq_len: int
    init_std: float = 0.02


def _normal_matrix(rows: int, cols: int, std: float, rng: random.Random) -> list[list[Value]]:
    return [[Value(rng.gauss(0.0, std)) for _ in range(cols)] for _ in range(rows)]


def _apply(matrix: list[list[Value]], x: list[Value]) -> list[Value]:
    return [Value.dot(row, x) for row in matrix]


def _softmax(z: list[Value]) -> list[Value]:
    hi = max(v.data for v in z)
    e = [(v - hi).exp() for v in z]
    tot = Value.sum(e)
    return [x / tot for x in e]


class Embedding(Module):
    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        std: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self.wt = _normal_matrix(num_embeddings, embedding_dim, std, rng or random.Random(0))

    def forward(self, indices: list[int]) -> list[list[Value]]:
        out = []
        for i in indices:
            if not 0 <= i < len(self.wt):
                raise ValueError(f"row {i} does not exist")
            out.append(list(self.wt[i]))
        return out


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.g = [Value(1.0) for _ in range(dim)]
        self.b = [Value(0.0) for _ in range(dim)]
        self.eps = eps

    def forward(self, x: list[Value]) -> list[Value]:
        mu = Value.sum(x) / len(x)
        dx = [v - mu for v in x]
        sigma = (Value.sum([d * d for d in dx]) / len(x) + self.eps) ** 0.5
        return [gi * (d / sigma) + bi for d, gi, bi in zip(dx, self.g, self.b)]


class FeedForward(Module):
    def __init__(
        self,
        embed_dim: int,
        hidden_dim: int | None = None,
        std: float = 0.02,
        out_std: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or random.Random(0)
        h = hidden_dim if hidden_dim is not None else 4 * embed_dim
        self.w = {
            "fc": _normal_matrix(h, embed_dim, std, rng),
            "fc_b": [Value(0.0) for _ in range(h)],
            "proj": _normal_matrix(embed_dim, h, out_std or std, rng),
            "proj_b": [Value(0.0) for _ in range(embed_dim)],
        }

    def forward(self, x: list[Value]) -> list[Value]:
        h = [(a + b).relu() for a, b in zip(_apply(self.w["fc"], x), self.w["fc_b"])]
        return [a + b for a, b in zip(_apply(self.w["proj"], h), self.w["proj_b"])]


class SelfAttention(Module):
    def __init__(
        self,
        embed_dim: int,
        std: float = 0.02,
        out_std: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or random.Random(0)
        self.dim = embed_dim
        self.w = {
            name: _normal_matrix(embed_dim, embed_dim, std, rng) for name in ("Wq", "Wk", "Wv")
        }
        self.w["Wo"] = _normal_matrix(embed_dim, embed_dim, out_std or std, rng)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        q = [_apply(self.w["Wq"], r) for r in x]
        k = [_apply(self.w["Wk"], r) for r in x]
        v = [_apply(self.w["Wv"], r) for r in x]
        inv = 1.0 / math.sqrt(self.dim)
        outs = []
        for i in range(len(x)):
            upto = i + 1 if causal else len(x)
            a = _softmax([Value.dot(q[i], k[j]) * inv for j in range(upto)])
            mixed = [Value.dot(a, [v[j][c] for j in range(upto)]) for c in range(self.dim)]
            outs.append(_apply(self.w["Wo"], mixed))
        return outs


class TransformerBlock(Module):
    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        std: float = 0.02,
        num_layers: int = 1,
        rng: random.Random | None = None,
    ) -> None:
        if num_heads < 1:
            raise ValueError("num_heads must be >= 1")
        rng = rng or random.Random(0)
        out_std = std / math.sqrt(2 * max(1, num_layers))
        self.ln_1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim, std, out_std, rng)
        self.ln_2 = LayerNorm(embed_dim)
        self.mlp = FeedForward(embed_dim, None, std, out_std, rng)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        x = [[p + q for p, q in zip(r, s)] for r, s in zip(x, self.attn([self.ln_1(r) for r in x]))]
        return [[p + q for p, q in zip(r, self.mlp(self.ln_2(r)))] for r in x]


class MiniGPT(Module):
    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        num_heads: int,
        num_layers: int,
        max_seq_len: int,
        *,
        seed: int = 0,
        init_std: float = 0.02,
    ) -> None:
        self.config = GPTConfig(vocab_size, embed_dim, num_layers, max_seq_len, init_std)
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        rng = random.Random(seed)
        self.wte = Embedding(vocab_size, embed_dim, init_std, rng)
        self.wpe = Embedding(max_seq_len, embed_dim, init_std, rng)
        self.h = {
            str(n): TransformerBlock(embed_dim, num_heads, init_std, num_layers, rng)
            for n in range(num_layers)
        }
        self.ln_f = LayerNorm(embed_dim)
        self.logit_bias = [Value(0.0) for _ in range(vocab_size)]
        self._pos_ids = tuple(range(max_seq_len))

    def forward(self, token_ids: list[int], targets: list[int] | None = None):
        T = len(token_ids)
        if T == 0 or T > self.config.max_seq_len:
            raise ValueError(f"cannot forward {T} tokens, block size is {self.config.max_seq_len}")
        x = [
            [a + b for a, b in zip(t, p)]
            for t, p in zip(self.wte(token_ids), self.wpe(self._pos_ids[:T]))
        ]
        for n in range(self.config.num_layers):
            x = self.h[str(n)](x)
        table = self.wte.wt
        logits = []
        for row in x:
            hidden = self.ln_f(row)
            logits.append([Value.dot(e, hidden) + b for e, b in zip(table, self.logit_bias)])
        if targets is None:
            return logits
        return logits, cross_entropy_loss(logits, targets)


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError(f"{len(logits)} positions but {len(targets)} targets")
    nll = []
    for z, y in zip(logits, targets):
        hi = max(v.data for v in z)
        nll.append((Value.sum([(v - hi).exp() for v in z])).log() - (z[y] - hi))
    return Value.sum(nll) / len(nll)


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    idx = list(start_ids)
    for _ in range(max_new_tokens):
        idx_cond = idx[-model.max_seq_len :]
        logits = model(idx_cond)[-1]
        probs = _softmax([z / temperature for z in logits])
        idx.append(random.choices(range(len(probs)), weights=[p.data for p in probs])[0])
    return idx
