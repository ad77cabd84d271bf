"""generate: length, token range, and long prompts."""

from __future__ import annotations

from minigpt import MiniGPT, generate


def small_model() -> MiniGPT:
    return MiniGPT(vocab_size=5, embed_dim=8, num_heads=2, num_layers=1, max_seq_len=4)


def test_length_and_range() -> None:
    start = [1, 2]
    out = generate(small_model(), start, max_new_tokens=6)
    assert len(out) == 2 + 6, "start_ids followed by max_new_tokens new tokens"
    assert out[:2] == [1, 2], "the output starts with start_ids"
    assert start == [1, 2], "start_ids must not be modified"
    assert all(isinstance(t, int) and 0 <= t < 5 for t in out), f"ids must be in 0..4: {out}"


def test_prompt_longer_than_context() -> None:
    # The model only accepts max_seq_len = 4 tokens: generate must crop the context.
    out = generate(small_model(), [0, 1, 2, 3, 4, 0], max_new_tokens=3, temperature=0.5)
    assert len(out) == 9
    assert out[:6] == [0, 1, 2, 3, 4, 0]
