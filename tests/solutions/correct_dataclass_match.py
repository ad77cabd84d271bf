# ruff: noqa: UP006, UP035
"""Mini-GPT with a config dataclass, ``match`` statements and tied embeddings.

The output layer has no weight matrix of its own: the logit of token v is the
dot product of the final hidden vector with row v of the token embedding
table (plus a per-token bias), as in GPT-2. The table is reachable from two
attributes but must count once among the parameters.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import List

from engine import Value
from nn import Linear, Module

Vector = List[Value]
Matrix = List[List[Value]]


@dataclass
class GPTConfig:
    vocab_size: int
    embed_dim: int
    num_heads: int = 1
    num_layers: int = 1
    max_seq_len: int = 8
    activation: str = "tanh"
    eps: float = 1e-5

    def __post_init__(self) -> None:
        match self.num_heads:
            case int() if self.num_heads >= 1:
                pass
            case _:
                raise ValueError(f"num_heads must be a positive int, got {self.num_heads!r}")
        for name, value in (
            ("vocab_size", self.vocab_size),
            ("embed_dim", self.embed_dim),
            ("max_seq_len", self.max_seq_len),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")


def activate(x: Value, kind: str) -> Value:
    match kind:
        case "relu":
            return x.relu()
        case "tanh":
            return x.tanh()
        case "gelu":
            return 0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)).tanh())
        case _:
            raise ValueError(f"unknown activation {kind!r}")


def stable_softmax(zs: Vector) -> Vector:
    peak = max(z.data for z in zs)
    exps = [(z - peak).exp() for z in zs]
    total = Value.sum(exps)
    return [e / total for e in exps]


def log_softmax(zs: Vector) -> Vector:
    """log(softmax(zs)) computed in log space, so a tiny probability is not rounded to 0."""
    peak = max(z.data for z in zs)
    log_total = Value.sum([(z - peak).exp() for z in zs]).log()
    return [(z - peak) - log_total for z in zs]


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int):
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.table: Matrix = [
            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: List[int]) -> Matrix:
        rows: Matrix = []
        for i in indices:
            match i:
                case int() if 0 <= i < self.num_embeddings:
                    rows.append(self.table[i])
                case _:
                    raise ValueError(f"index {i!r} not in 0..{self.num_embeddings - 1}")
        return rows


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        self.dim = dim
        self.eps = eps
        self.scale: Vector = [Value(1.0) for _ in range(dim)]
        self.shift: Vector = [Value(0.0) for _ in range(dim)]

    def forward(self, x: Vector) -> Vector:
        if len(x) != self.dim:
            raise ValueError(f"LayerNorm({self.dim}) got a vector of {len(x)}")
        mean = Value.sum(x) / self.dim
        centered = [v - mean for v in x]
        variance = Value.sum([c * c for c in centered]) / self.dim
        inv = 1 / (variance + self.eps) ** 0.5
        return [c * inv * s + b for c, s, b in zip(centered, self.scale, self.shift, strict=True)]


class FeedForward(Module):
    def __init__(self, embed_dim: int, hidden_dim: int | None = None, activation: str = "tanh"):
        self.activation = activation
        self.expand = Linear(embed_dim, hidden_dim if hidden_dim is not None else 4 * embed_dim)
        self.contract = Linear(self.expand.out_features, embed_dim)

    def forward(self, x: Vector) -> Vector:
        return self.contract([activate(h, self.activation) for h in self.expand(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim: int):
        self.embed_dim = embed_dim
        self.wq = Linear(embed_dim, embed_dim, bias=False)
        self.wk = Linear(embed_dim, embed_dim, bias=False)
        self.wv = Linear(embed_dim, embed_dim, bias=False)
        self.wo = Linear(embed_dim, embed_dim)

    def forward(self, x: Matrix, causal: bool = True) -> Matrix:
        queries = [self.wq(r) for r in x]
        keys = [self.wk(r) for r in x]
        values = [self.wv(r) for r in x]
        root = math.sqrt(self.embed_dim)
        result: Matrix = []
        for i, q in enumerate(queries):
            match causal:
                case True:
                    visible = list(range(i + 1))
                case False:
                    visible = list(range(len(x)))
            weights = stable_softmax([Value.dot(q, keys[j]) / root for j in visible])
            context = [
                Value.dot(weights, [values[j][c] for j in visible]) for c in range(self.embed_dim)
            ]
            result.append(self.wo(context))
        return result


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int, activation: str = "tanh"):
        GPTConfig(vocab_size=1, embed_dim=embed_dim, num_heads=num_heads)  # validates
        self.norm_attn = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.norm_ff = LayerNorm(embed_dim)
        self.ff = FeedForward(embed_dim, activation=activation)

    def forward(self, x: Matrix) -> Matrix:
        attended = self.attn([self.norm_attn(r) for r in x])
        x = [[a + b for a, b in zip(r, s, strict=True)] for r, s in zip(x, attended, strict=True)]
        return [[a + b for a, b in zip(r, self.ff(self.norm_ff(r)), strict=True)] for r in x]


class MiniGPT(Module):
    def __init__(
        self, vocab_size: int, embed_dim: int, num_heads: int, num_layers: int, max_seq_len: int
    ):
        self.config = GPTConfig(vocab_size, embed_dim, num_heads, num_layers, max_seq_len)
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.token_embedding = Embedding(vocab_size, embed_dim)
        self.position_embedding = Embedding(max_seq_len, embed_dim)
        self.blocks = [
            TransformerBlock(embed_dim, num_heads, self.config.activation)
            for _ in range(num_layers)
        ]
        self.final_norm = LayerNorm(embed_dim, self.config.eps)
        # Weight tying: the output "matrix" IS the token table (same Values).
        self.output_weight: Matrix = self.token_embedding.table
        self.output_bias: Vector = [Value(0.0) for _ in range(vocab_size)]

    def forward(self, token_ids: List[int]) -> Matrix:
        match len(token_ids):
            case 0:
                raise ValueError("need at least one token")
            case n if n > self.max_seq_len:
                raise ValueError(f"got {n} tokens but max_seq_len is {self.max_seq_len}")
            case n:
                pass
        tokens = self.token_embedding(token_ids)
        positions = self.position_embedding(list(range(n)))
        x = [
            [a + b for a, b in zip(t, p, strict=True)]
            for t, p in zip(tokens, positions, strict=True)
        ]
        for block in self.blocks:
            x = block(x)
        logits: Matrix = []
        for row in x:
            h = self.final_norm(row)
            logits.append(
                [
                    Value.dot(h, w) + b
                    for w, b in zip(self.output_weight, self.output_bias, strict=True)
                ]
            )
        return logits


def cross_entropy_loss(logits: Matrix, targets: List[int]) -> Value:
    match (len(logits), len(targets)):
        case (0, _):
            raise ValueError("empty logits")
        case (a, b) if a != b:
            raise ValueError(f"{a} rows of logits but {b} targets")
    nll = [-log_softmax(row)[y] for row, y in zip(logits, targets, strict=True)]
    return Value.sum(nll) / len(nll)


def generate(
    model: MiniGPT, start_ids: List[int], max_new_tokens: int, temperature: float = 1.0
) -> List[int]:
    out = list(start_ids)
    for _ in range(max_new_tokens):
        window = out[-model.max_seq_len :]
        last = model(window)[-1]
        probs = stable_softmax([z / temperature for z in last])
        out.append(random.choices(range(len(probs)), weights=[p.data for p in probs])[0])
    return out
