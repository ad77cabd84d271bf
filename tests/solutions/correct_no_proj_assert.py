"""Mini-GPT, short version.

- attention: q, k, v projections (with biases), NO output projection: the
  weighted sum of the values is the output;
- feed-forward: Linear -> tanh -> Linear;
- sequence length checked with an assert;
- num_heads accepted and ignored (single head);
- loss: logsumexp(z) - z[y], summed with plain +.
"""

import math
import random

from engine import Value
from nn import Linear, Module


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim):
        self.E = [
            [Value(random.uniform(-1, 1)) for _ in range(embedding_dim)]
            for _ in range(num_embeddings)
        ]

    def forward(self, indices):
        for i in indices:
            if not 0 <= i < len(self.E):
                raise ValueError(f"bad index {i}")
        return [self.E[i] for i in indices]


class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        self.eps = eps
        self.w = [Value(1.0) for _ in range(dim)]
        self.b = [Value(0.0) for _ in range(dim)]

    def forward(self, x):
        mu = Value.sum(x) / len(x)
        var = Value.sum([(xi - mu) ** 2 for xi in x]) / len(x)
        return [
            (xi - mu) * (var + self.eps) ** -0.5 * w + b
            for xi, w, b in zip(x, self.w, self.b, strict=True)
        ]


class FeedForward(Module):
    def __init__(self, embed_dim, hidden_dim=None):
        h = 4 * embed_dim if hidden_dim is None else hidden_dim
        self.l1 = Linear(embed_dim, h)
        self.l2 = Linear(h, embed_dim)

    def forward(self, x):
        return self.l2([a.tanh() for a in self.l1(x)])


class SelfAttention(Module):
    def __init__(self, embed_dim):
        self.D = embed_dim
        self.Q = Linear(embed_dim, embed_dim)
        self.K = Linear(embed_dim, embed_dim)
        self.V = Linear(embed_dim, embed_dim)

    def forward(self, x, causal=True):
        q, k, v = [self.Q(r) for r in x], [self.K(r) for r in x], [self.V(r) for r in x]
        out = []
        for i in range(len(x)):
            js = [j for j in range(len(x)) if not (causal and j > i)]
            s = [Value.dot(q[i], k[j]) / math.sqrt(self.D) for j in js]
            m = max(si.data for si in s)
            e = [(si - m).exp() for si in s]
            tot = Value.sum(e)
            a = [ei / tot for ei in e]
            out.append([Value.dot(a, [v[j][d] for j in js]) for d in range(self.D)])
        return out


class TransformerBlock(Module):
    def __init__(self, embed_dim, num_heads):
        self.ln1, self.attn = LayerNorm(embed_dim), SelfAttention(embed_dim)
        self.ln2, self.ff = LayerNorm(embed_dim), FeedForward(embed_dim)

    def forward(self, x):
        y = self.attn([self.ln1(r) for r in x])
        x = [[p + q for p, q in zip(r, s, strict=True)] for r, s in zip(x, y, strict=True)]
        return [[p + q for p, q in zip(r, self.ff(self.ln2(r)), strict=True)] for r in x]


class MiniGPT(Module):
    def __init__(self, vocab_size, embed_dim, num_heads, num_layers, max_seq_len):
        self.vocab_size, self.max_seq_len = vocab_size, max_seq_len
        self.tok = Embedding(vocab_size, embed_dim)
        self.pos = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln = LayerNorm(embed_dim)
        self.out = Linear(embed_dim, vocab_size)

    def forward(self, token_ids):
        T = len(token_ids)
        assert 0 < T <= self.max_seq_len, f"need 1..{self.max_seq_len} tokens, got {T}"
        x = [
            [a + b for a, b in zip(t, p, strict=True)]
            for t, p in zip(self.tok(token_ids), self.pos(range(T)), strict=True)
        ]
        for blk in self.blocks:
            x = blk(x)
        return [self.out(self.ln(r)) for r in x]


def cross_entropy_loss(logits, targets):
    assert len(logits) == len(targets), "logits/targets length mismatch"
    loss = Value(0.0)
    for z, y in zip(logits, targets, strict=True):
        m = max(zi.data for zi in z)
        s = Value(0.0)
        for zi in z:
            s = s + (zi - m).exp()
        loss = loss + (s.log() + m - z[y])
    return loss / len(targets)


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    out = list(start_ids)
    for _ in range(max_new_tokens):
        z = model(out[-model.max_seq_len :])[-1]
        z = [zi / temperature for zi in z]
        m = max(zi.data for zi in z)
        e = [(zi - m).exp() for zi in z]
        tot = Value.sum(e)
        p = [(ei / tot).data for ei in e]
        out.append(random.choices(range(len(p)), weights=p)[0])
    return out
