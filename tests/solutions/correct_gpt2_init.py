"""A small GPT-2 look-alike written on top of the pack's scalar autograd.

The layout follows the GPT-2 code base: a token table ``wte`` and a position
table ``wpe``, blocks ``h`` made of ``ln_1 -> attn -> ln_2 -> mlp``, a final
``ln_f`` and an ``lm_head``. Attention uses one fused ``c_attn`` layer that
produces query, key and value at once, followed by ``c_proj``.

Initialisation is GPT-2's: every weight, the two embedding tables included,
is drawn from N(0, 0.02); biases start at 0; the two projections that write
into the residual stream are scaled down by 1/sqrt(2 * num_layers).
"""

from __future__ import annotations

import math
import random

from engine import Value
from nn import Linear, Module

__all__ = [
    "Embedding",
    "FeedForward",
    "LayerNorm",
    "MiniGPT",
    "SelfAttention",
    "TransformerBlock",
    "cross_entropy_loss",
    "generate",
]
__version__ = "0.2.0"
__author__ = "A. Student <a.student@example.edu>"

INIT_STD = 0.02


def normal_(values: list[Value], std: float = INIT_STD) -> None:
    """Overwrite the data of every Value with a draw from N(0, std)."""
    for v in values:
        v.data = random.gauss(0.0, std)


def gpt2_linear(in_features: int, out_features: int, bias: bool = True) -> Linear:
    """An nn.Linear whose weights are re-drawn from N(0, 0.02); biases stay at 0."""
    layer = Linear(in_features, out_features, bias=bias)
    for row in layer.weight:
        normal_(row)
    return layer


def gelu(x: Value) -> Value:
    """GELU with the tanh approximation used by GPT-2 ("gelu_new")."""
    c = math.sqrt(2.0 / math.pi)
    return 0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int):
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.weight = [[Value(0.0) for _ in range(embedding_dim)] for _ in range(num_embeddings)]
        for row in self.weight:
            normal_(row)

    def forward(self, indices: list[int]) -> list[list[Value]]:
        rows = []
        for i in indices:
            if not 0 <= i < self.num_embeddings:
                raise ValueError(f"index {i} out of range [0, {self.num_embeddings})")
            rows.append(self.weight[i])
        return rows


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        self.eps = eps
        self.weight = [Value(1.0) for _ in range(dim)]
        self.bias = [Value(0.0) for _ in range(dim)]

    def forward(self, x: list[Value]) -> list[Value]:
        n = len(x)
        mu = Value.sum(x) * (1.0 / n)
        xc = [xi - mu for xi in x]
        var = Value.dot(xc, xc) * (1.0 / n)
        rstd = (var + self.eps) ** -0.5
        return [w * (xi * rstd) + b for xi, w, b in zip(xc, self.weight, self.bias, strict=True)]


class FeedForward(Module):
    def __init__(self, embed_dim: int, hidden_dim: int | None = None):
        hidden_dim = hidden_dim if hidden_dim is not None else 4 * embed_dim
        self.c_fc = gpt2_linear(embed_dim, hidden_dim)
        self.c_proj = gpt2_linear(hidden_dim, embed_dim)

    def forward(self, x: list[Value]) -> list[Value]:
        return self.c_proj([gelu(h) for h in self.c_fc(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim: int):
        self.n_embd = embed_dim
        self.c_attn = gpt2_linear(embed_dim, 3 * embed_dim)  # q, k, v in one layer
        self.c_proj = gpt2_linear(embed_dim, embed_dim)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        d = self.n_embd
        q, k, v = [], [], []
        for row in x:
            qkv = self.c_attn(row)
            q.append(qkv[:d])
            k.append(qkv[d : 2 * d])
            v.append(qkv[2 * d :])
        inv_sqrt_d = 1.0 / math.sqrt(d)
        y = []
        for i in range(len(x)):
            keys = range(i + 1) if causal else range(len(x))
            att = [Value.dot(q[i], k[j]) * inv_sqrt_d for j in keys]
            top = max(a.data for a in att)
            att = [(a - top).exp() for a in att]
            norm = Value.sum(att) ** -1
            att = [a * norm for a in att]
            mixed = [Value.dot(att, [v[j][c] for j in keys]) for c in range(d)]
            y.append(self.c_proj(mixed))
        return y


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int):
        if num_heads < 1 or embed_dim % num_heads != 0:
            raise ValueError(f"embed_dim={embed_dim} must be a multiple of num_heads={num_heads}")
        self.n_head = num_heads  # single head here; kept for API compatibility
        self.ln_1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln_2 = LayerNorm(embed_dim)
        self.mlp = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        a = self.attn([self.ln_1(r) for r in x])
        x = [[xi + ai for xi, ai in zip(r, ar, strict=True)] for r, ar in zip(x, a, strict=True)]
        return [[xi + mi for xi, mi in zip(r, self.mlp(self.ln_2(r)), strict=True)] for r in x]


class MiniGPT(Module):
    def __init__(self, vocab_size, embed_dim, num_heads, num_layers, max_seq_len):
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.wte = Embedding(vocab_size, embed_dim)
        self.wpe = Embedding(max_seq_len, embed_dim)
        self.h = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.lm_head = gpt2_linear(embed_dim, vocab_size, bias=False)
        # GPT-2: scale the residual projections by 1/sqrt(2 * n_layer)
        residual_std = INIT_STD / math.sqrt(2 * max(num_layers, 1))
        for block in self.h:
            for layer in (block.attn.c_proj, block.mlp.c_proj):
                for row in layer.weight:
                    normal_(row, residual_std)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        t = len(token_ids)
        if t == 0 or t > self.max_seq_len:
            raise ValueError(f"sequence length {t} must be between 1 and {self.max_seq_len}")
        tok_emb = self.wte(token_ids)
        pos_emb = self.wpe(list(range(t)))
        x = [
            [a + b for a, b in zip(te, pe, strict=True)]
            for te, pe in zip(tok_emb, pos_emb, strict=True)
        ]
        for block in self.h:
            x = block(x)
        return [self.lm_head(self.ln_f(r)) for r in x]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if len(logits) != len(targets):
        raise ValueError(f"{len(logits)} rows of logits for {len(targets)} targets")
    per_position = []
    for z, y in zip(logits, targets, strict=True):
        m = max(zi.data for zi in z)
        lse = Value.sum([(zi - m).exp() for zi in z]).log() + m
        per_position.append(lse - z[y])
    return Value.sum(per_position) * (1.0 / len(per_position))


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    idx = list(start_ids)
    for _ in range(max_new_tokens):
        idx_cond = idx[-model.max_seq_len :]
        logits = [z.data / temperature for z in model(idx_cond)[-1]]
        m = max(logits)
        weights = [math.exp(z - m) for z in logits]
        total = sum(weights)
        probs = [w / total for w in weights]
        idx.append(random.choices(range(len(probs)), weights=probs)[0])
    return idx
