# mypy: allow-untyped-defs
"""Correct but deliberately unoptimised MiniGPT, in a beginner's style.

Every weight matrix is a list of lists multiplied with nested loops, every
sum is the builtin ``sum`` (a chain of binary additions), softmax recomputes
its denominator for each entry as in the lesson, and the causal mask is a
large negative score. Used to calibrate timeouts.
"""

import math
import random

from engine import Value
from nn import Module


def make_matrix(rows, cols):
    """A rows x cols matrix of small random Values."""
    matrix = []
    for _ in range(rows):
        row = []
        for _ in range(cols):
            row.append(Value(random.uniform(-1.0, 1.0) / math.sqrt(cols)))
        matrix.append(row)
    return matrix


def make_zeros(n):
    """A vector of n Values equal to 0."""
    return [Value(0.0) for i in range(n)]


def matvec(matrix, vector):
    """Multiply a matrix (list of rows) by a vector."""
    result = []
    for row in matrix:
        result.append(sum(row[j] * vector[j] for j in range(len(vector))))
    return result


def add_vectors(a, b):
    """Element-wise a + b."""
    result = []
    for i in range(len(a)):
        result.append(a[i] + b[i])
    return result


def flatten(matrix):
    """All entries of a matrix, row by row."""
    values = []
    for row in matrix:
        for v in row:
            values.append(v)
    return values


def softmax(scores):
    """Softmax as a list of probabilities, shifted by the max score."""
    biggest = max(s.data for s in scores)
    exps = [(s - biggest).exp() for s in scores]
    probs = [e / sum(exps) for e in exps]
    return probs


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim):
        self.weights = make_matrix(num_embeddings, embedding_dim)

    def forward(self, indices):
        rows = []
        for index in indices:
            rows.append(self.weights[index])
        return rows

    def parameters(self):
        return flatten(self.weights)


class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        self.eps = eps
        self.gamma = [Value(1.0) for i in range(dim)]
        self.beta = make_zeros(dim)

    def forward(self, x):
        n = len(x)
        mean = sum(x) / n
        var = sum((xi - mean) ** 2 for xi in x) / n
        std = (var + self.eps) ** 0.5
        out = []
        for i in range(n):
            out.append((x[i] - mean) / std * self.gamma[i] + self.beta[i])
        return out

    def parameters(self):
        return self.gamma + self.beta


class FeedForward(Module):
    def __init__(self, embed_dim, hidden_dim=None):
        if hidden_dim is None:
            hidden_dim = 4 * embed_dim
        self.w1 = make_matrix(hidden_dim, embed_dim)
        self.b1 = make_zeros(hidden_dim)
        self.w2 = make_matrix(embed_dim, hidden_dim)
        self.b2 = make_zeros(embed_dim)

    def forward(self, x):
        hidden = add_vectors(matvec(self.w1, x), self.b1)
        hidden = [h.relu() for h in hidden]
        return add_vectors(matvec(self.w2, hidden), self.b2)

    def parameters(self):
        return flatten(self.w1) + self.b1 + flatten(self.w2) + self.b2


class SelfAttention(Module):
    def __init__(self, embed_dim):
        self.embed_dim = embed_dim
        self.wq = make_matrix(embed_dim, embed_dim)
        self.wk = make_matrix(embed_dim, embed_dim)
        self.wv = make_matrix(embed_dim, embed_dim)
        self.wo = make_matrix(embed_dim, embed_dim)

    def forward(self, x, causal=True):
        seq_len = len(x)
        queries = [matvec(self.wq, row) for row in x]
        keys = [matvec(self.wk, row) for row in x]
        values = [matvec(self.wv, row) for row in x]
        out = []
        for i in range(seq_len):
            scores = []
            for j in range(seq_len):
                if causal and j > i:
                    scores.append(Value(-1e9))
                else:
                    dot = sum(queries[i][d] * keys[j][d] for d in range(self.embed_dim))
                    scores.append(dot / math.sqrt(self.embed_dim))
            weights = softmax(scores)
            mixed = []
            for d in range(self.embed_dim):
                mixed.append(sum(weights[j] * values[j][d] for j in range(seq_len)))
            out.append(matvec(self.wo, mixed))
        return out

    def parameters(self):
        return flatten(self.wq) + flatten(self.wk) + flatten(self.wv) + flatten(self.wo)


class TransformerBlock(Module):
    def __init__(self, embed_dim, num_heads):
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ff = FeedForward(embed_dim)

    def forward(self, x):
        normed = []
        for row in x:
            normed.append(self.ln1(row))
        attended = self.attn(normed)
        x2 = []
        for i in range(len(x)):
            x2.append(add_vectors(x[i], attended[i]))
        out = []
        for row in x2:
            out.append(add_vectors(row, self.ff(self.ln2(row))))
        return out

    def parameters(self):
        params = []
        params += self.ln1.parameters()
        params += self.attn.parameters()
        params += self.ln2.parameters()
        params += self.ff.parameters()
        return params


class MiniGPT(Module):
    def __init__(self, vocab_size, embed_dim, num_heads, num_layers, max_seq_len):
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.token_emb = Embedding(vocab_size, embed_dim)
        self.pos_emb = Embedding(max_seq_len, embed_dim)
        self.blocks = []
        for _ in range(num_layers):
            self.blocks.append(TransformerBlock(embed_dim, num_heads))
        self.ln_f = LayerNorm(embed_dim)
        self.w_out = make_matrix(vocab_size, embed_dim)
        self.b_out = make_zeros(vocab_size)

    def forward(self, token_ids):
        seq_len = len(token_ids)
        if seq_len > self.max_seq_len:
            raise ValueError("input is longer than max_seq_len")
        tok = self.token_emb(token_ids)
        pos = self.pos_emb(list(range(seq_len)))
        x = []
        for t in range(seq_len):
            x.append(add_vectors(tok[t], pos[t]))
        for block in self.blocks:
            x = block(x)
        logits = []
        for t in range(seq_len):
            h = self.ln_f(x[t])
            logits.append(add_vectors(matvec(self.w_out, h), self.b_out))
        return logits

    def parameters(self):
        params = self.token_emb.parameters() + self.pos_emb.parameters()
        for block in self.blocks:
            params += block.parameters()
        params += self.ln_f.parameters()
        params += flatten(self.w_out) + self.b_out
        return params


def cross_entropy_loss(logits, targets):
    losses = []
    for t in range(len(targets)):
        row = logits[t]
        biggest = max(z.data for z in row)
        exps = [(z - biggest).exp() for z in row]
        log_prob = (row[targets[t]] - biggest) - sum(exps).log()
        losses.append(-log_prob)
    return sum(losses) / len(losses)


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    tokens = list(start_ids)
    for _ in range(max_new_tokens):
        context = tokens[-model.max_seq_len :]
        logits = model(context)
        last = logits[len(logits) - 1]
        scaled = [z / temperature for z in last]
        probs = softmax(scaled)
        weights = [p.data for p in probs]
        next_id = random.choices(list(range(len(weights))), weights=weights)[0]
        tokens.append(next_id)
    return tokens
