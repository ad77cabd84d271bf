# ruff: noqa: B905
"""Mini-GPT that validates every argument, raising its own ValueError subclass.

Style: defensive programming. One exception class, ``MiniGPTError(ValueError)``,
is raised for every bad argument: constructor sizes that are not positive
ints (bools refused), a vector of the wrong length given to a layer, token
ids that are not ints or are out of range, sequences that are empty or
longer than max_seq_len, loss targets of the wrong count or range, and in
generate a model without a positive int ``max_seq_len``, start ids that
are not a list/tuple of valid ids, a negative or non-int number of new
tokens, and a temperature that is not a finite positive real number.
Valid arguments go through an ordinary model: gain+bias norms, tanh
feed-forward, q/k/v with biases, output projection without bias.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Sequence

from engine import Value
from nn import Linear, Module


class MiniGPTError(ValueError):
    """A bad argument given to a part of the model."""


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MiniGPTError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_ids(name: str, ids: object, limit: int) -> list[int]:
    if not isinstance(ids, (list, tuple, range)):
        raise MiniGPTError(f"{name} must be a list of ints, got {type(ids).__name__}")
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int):
            raise MiniGPTError(f"{name} holds {i!r}, which is not an int")
        if not 0 <= i < limit:
            raise MiniGPTError(f"{name} holds {i}, outside 0..{limit - 1}")
    return list(ids)


def _check_vector(name: str, x: object, dim: int) -> None:
    if not isinstance(x, Sequence) or len(x) != dim:
        raise MiniGPTError(f"{name} expects a vector of {dim} values")


def _stable_softmax(z: list[Value]) -> list[Value]:
    m = max(v.data for v in z)
    e = [(v - m).exp() for v in z]
    s = Value.sum(e)
    return [x / s for x in e]


class Embedding(Module):
    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.num_embeddings = _positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = _positive_int("embedding_dim", embedding_dim)
        self.weight = [
            [Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices: list[int]) -> list[list[Value]]:
        checked = _check_ids("indices", indices, self.num_embeddings)
        return [list(self.weight[i]) for i in checked]


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        self.dim = _positive_int("dim", dim)
        if not isinstance(eps, numbers.Real) or not eps > 0:
            raise MiniGPTError(f"eps must be a positive number, got {eps!r}")
        self.eps = float(eps)
        self.gain = [Value(1.0) for _ in range(dim)]
        self.bias = [Value(0.0) for _ in range(dim)]

    def forward(self, x: list[Value]) -> list[Value]:
        _check_vector("LayerNorm", x, self.dim)
        mean = Value.sum(x) / self.dim
        c = [v - mean for v in x]
        var = Value.sum([ci * ci for ci in c]) / self.dim
        inv = 1.0 / (var + self.eps) ** 0.5
        return [g * ci * inv + b for ci, g, b in zip(c, self.gain, self.bias)]


class FeedForward(Module):
    def __init__(self, embed_dim: int, hidden_dim: int | None = None) -> None:
        self.embed_dim = _positive_int("embed_dim", embed_dim)
        hidden = 4 * embed_dim if hidden_dim is None else _positive_int("hidden_dim", hidden_dim)
        self.w1 = Linear(embed_dim, hidden)
        self.w2 = Linear(hidden, embed_dim)

    def forward(self, x: list[Value]) -> list[Value]:
        _check_vector("FeedForward", x, self.embed_dim)
        return self.w2([h.tanh() for h in self.w1(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim: int) -> None:
        self.embed_dim = _positive_int("embed_dim", embed_dim)
        self.query = Linear(embed_dim, embed_dim)
        self.key = Linear(embed_dim, embed_dim)
        self.value = Linear(embed_dim, embed_dim)

    def forward(self, x: list[list[Value]], causal: bool = True) -> list[list[Value]]:
        if not isinstance(x, Sequence) or len(x) == 0:
            raise MiniGPTError("SelfAttention needs a non-empty sequence of vectors")
        for row in x:
            _check_vector("SelfAttention", row, self.embed_dim)
        q = [self.query(r) for r in x]
        k = [self.key(r) for r in x]
        v = [self.value(r) for r in x]
        denom = math.sqrt(self.embed_dim)
        out = []
        for i in range(len(x)):
            n = i + 1 if causal else len(x)
            w = _stable_softmax([Value.dot(q[i], k[j]) / denom for j in range(n)])
            out.append([Value.dot(w, [v[j][d] for j in range(n)]) for d in range(self.embed_dim)])
        return out


class TransformerBlock(Module):
    def __init__(self, embed_dim: int, num_heads: int) -> None:
        _positive_int("num_heads", num_heads)
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ff = FeedForward(embed_dim)

    def forward(self, x: list[list[Value]]) -> list[list[Value]]:
        y = self.attn([self.ln1(r) for r in x])
        x = [[a + b for a, b in zip(r, s)] for r, s in zip(x, y)]
        return [[a + b for a, b in zip(r, self.ff(self.ln2(r)))] for r in x]


class MiniGPT(Module):
    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        num_heads: int,
        num_layers: int,
        max_seq_len: int,
    ) -> None:
        self.vocab_size = _positive_int("vocab_size", vocab_size)
        self.max_seq_len = _positive_int("max_seq_len", max_seq_len)
        _positive_int("embed_dim", embed_dim)
        _positive_int("num_heads", num_heads)
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
            raise MiniGPTError(f"num_layers must be an int >= 0, got {num_layers!r}")
        self.tok_emb = Embedding(vocab_size, embed_dim)
        self.pos_emb = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.lm_head = Linear(embed_dim, vocab_size, bias=False)

    def forward(self, token_ids: list[int]) -> list[list[Value]]:
        ids = _check_ids("token_ids", token_ids, self.vocab_size)
        if not 1 <= len(ids) <= self.max_seq_len:
            raise MiniGPTError(f"need 1..{self.max_seq_len} token ids, got {len(ids)}")
        x = [
            [a + b for a, b in zip(t, p)]
            for t, p in zip(self.tok_emb(ids), self.pos_emb(list(range(len(ids)))))
        ]
        for block in self.blocks:
            x = block(x)
        return [self.lm_head(self.ln_f(r)) for r in x]


def cross_entropy_loss(logits: list[list[Value]], targets: list[int]) -> Value:
    if not isinstance(logits, Sequence) or len(logits) == 0:
        raise MiniGPTError("logits must be a non-empty list of rows")
    if not isinstance(targets, Sequence) or len(targets) != len(logits):
        raise MiniGPTError(f"{len(logits)} rows of logits need {len(logits)} targets")
    losses = []
    for row, y in zip(logits, targets):
        if isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < len(row):
            raise MiniGPTError(f"target {y!r} is not a class index below {len(row)}")
        m = max(z.data for z in row)
        losses.append(Value.sum([(z - m).exp() for z in row]).log() + m - row[y])
    return Value.sum(losses) / len(losses)


def generate(
    model: MiniGPT,
    start_ids: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
) -> list[int]:
    limit = model.max_seq_len
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise MiniGPTError("model.max_seq_len must be a positive int")
    if not isinstance(start_ids, (list, tuple)) or len(start_ids) == 0:
        raise MiniGPTError("start_ids must be a non-empty list of token ids")
    tokens = _check_ids("start_ids", start_ids, model.vocab_size)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise MiniGPTError(f"max_new_tokens must be an int, got {max_new_tokens!r}")
    if max_new_tokens < 0:
        raise MiniGPTError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, numbers.Real)
        or not math.isfinite(temperature)
        or temperature <= 0
    ):
        raise MiniGPTError(f"temperature must be a finite number > 0, got {temperature!r}")
    for _ in range(max_new_tokens):
        last = model(tokens[-limit:])[-1]
        probs = _stable_softmax([z / temperature for z in last])
        tokens.append(random.choices(range(len(probs)), weights=[p.data for p in probs])[0])
    return tokens
