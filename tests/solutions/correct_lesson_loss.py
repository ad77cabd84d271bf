"""A correct solution whose loss is the lesson's recipe as written (derived from
correct_relu_reordered.py: only cross_entropy_loss differs).
"""

import math
import random

from engine import Value
from nn import Linear, Module


def softmax(scores):
    # subtract the biggest score first so exp() cannot overflow
    m = max(s.data for s in scores)
    exps = [(s - m).exp() for s in scores]
    total = exps[0]
    for e in exps[1:]:
        total = total + e
    return [e / total for e in exps]


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim):
        self.weights = []
        for _ in range(num_embeddings):
            self.weights.append([Value(random.gauss(0, 1)) for _ in range(embedding_dim)])

    def forward(self, indices):
        out = []
        for i in indices:
            if i < 0 or i >= len(self.weights):
                raise ValueError("token id out of range")
            out.append(self.weights[i])
        return out


class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        self.eps = eps
        self.g = [Value(1.0) for _ in range(dim)]
        self.b = [Value(0.0) for _ in range(dim)]

    def forward(self, x):
        n = len(x)
        mean = x[0]
        for xi in x[1:]:
            mean = mean + xi
        mean = mean / n
        var = (x[0] - mean) ** 2
        for xi in x[1:]:
            var = var + (xi - mean) ** 2
        var = var / n
        std = (var + self.eps) ** 0.5
        return [self.g[i] * ((x[i] - mean) / std) + self.b[i] for i in range(n)]


class FeedForward(Module):
    def __init__(self, embed_dim, hidden_dim=None):
        if hidden_dim is None:
            hidden_dim = 4 * embed_dim
        # I wrote the output layer first (it is the one whose shape I had to think about)
        self.fc2 = Linear(hidden_dim, embed_dim)
        self.fc1 = Linear(embed_dim, hidden_dim)

    def forward(self, x):
        h = self.fc1(x)
        h = [v.relu() for v in h]
        return self.fc2(h)


class SelfAttention(Module):
    def __init__(self, embed_dim):
        self.d = embed_dim
        self.Wq = Linear(embed_dim, embed_dim, bias=False)
        self.Wk = Linear(embed_dim, embed_dim, bias=False)
        self.Wv = Linear(embed_dim, embed_dim, bias=False)
        self.Wo = Linear(embed_dim, embed_dim)

    def forward(self, x, causal=True):
        T = len(x)
        Q = [self.Wq(row) for row in x]
        K = [self.Wk(row) for row in x]
        V = [self.Wv(row) for row in x]
        outputs = []
        for i in range(T):
            scores = []
            for j in range(T):
                if causal and j > i:
                    break  # the future is not visible
                s = Q[i][0] * K[j][0]
                for c in range(1, self.d):
                    s = s + Q[i][c] * K[j][c]
                scores.append(s / math.sqrt(self.d))
            w = softmax(scores)
            mixed = []
            for c in range(self.d):
                acc = w[0] * V[0][c]
                for j in range(1, len(w)):
                    acc = acc + w[j] * V[j][c]
                mixed.append(acc)
            outputs.append(self.Wo(mixed))
        return outputs


class TransformerBlock(Module):
    def __init__(self, embed_dim, num_heads):
        # num_heads is not used: the attention has a single head
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ff = FeedForward(embed_dim)

    def forward(self, x):
        a = self.attn([self.ln1(row) for row in x])
        x = [[x[t][c] + a[t][c] for c in range(len(x[t]))] for t in range(len(x))]
        out = []
        for row in x:
            f = self.ff(self.ln2(row))
            out.append([row[c] + f[c] for c in range(len(row))])
        return out


class MiniGPT(Module):
    def __init__(self, vocab_size, embed_dim, num_heads, num_layers, max_seq_len):
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.token_emb = Embedding(vocab_size, embed_dim)
        self.pos_emb = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.lm_head = Linear(embed_dim, vocab_size)

    def forward(self, token_ids):
        n = len(token_ids)
        if n > self.max_seq_len:
            raise IndexError(f"position {n - 1} is past the end of the position table")
        tok = self.token_emb(token_ids)
        pos = self.pos_emb(list(range(n)))
        x = [[tok[t][c] + pos[t][c] for c in range(len(tok[t]))] for t in range(n)]
        for block in self.blocks:
            x = block(x)
        return [self.lm_head(self.ln_f(row)) for row in x]


def cross_entropy_loss(logits, targets):
    # The lesson's recipe, word for word: stable softmax, then -log of the target's probability.
    total = Value(0.0)
    for logits_t, target_t in zip(logits, targets, strict=True):
        m = max(logit.data for logit in logits_t)
        exp = [(z - m).exp() for z in logits_t]
        probs = [e / sum(exp) for e in exp]
        total = total - probs[target_t].log()
    return total / len(targets)


def sample(probs):
    r = random.random()
    running = 0.0
    for i, p in enumerate(probs):
        running += p
        if r < running:
            return i
    # r fell in the rounding gap above the last running sum: take the last possible token
    return max(i for i, p in enumerate(probs) if p > 0)


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    ids = list(start_ids)
    for _ in range(max_new_tokens):
        context = ids[-model.max_seq_len :]
        last = model(context)[-1]
        probs = softmax([z / temperature for z in last])
        ids.append(sample([p.data for p in probs]))
    return ids
