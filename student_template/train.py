"""Train your MiniGPT on a tiny text, then let it write.

    python train.py                      # defaults: about half a minute
    python train.py --steps 600 --lr 0.5 --seed 1

The loop is the one from the lesson: pick random windows of the text, compute
the next-character loss, zero the gradients, backpropagate, take a plain SGD
step. The printed loss should fall well below its starting value (about
ln(vocabulary size)); the sample at the end should look like the text.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

from engine import Value
from minigpt import MiniGPT, cross_entropy_loss, generate

DEFAULT_DATA = Path(__file__).resolve().parent / "data" / "tiny.txt"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=250, help="training steps (default 250)")
    parser.add_argument("--lr", type=float, default=0.3, help="SGD learning rate (default 0.3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--batch-size", type=int, default=2, help="windows per step (default 2)")
    parser.add_argument("--block-size", type=int, default=8, help="context length T (default 8)")
    parser.add_argument("--embed-dim", type=int, default=16, help="D (default 16)")
    parser.add_argument("--layers", type=int, default=2, help="transformer blocks (default 2)")
    parser.add_argument("--print-every", type=int, default=25, help="report interval in steps")
    parser.add_argument("--sample-length", type=int, default=120, help="characters to generate")
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="text file to learn")
    return parser.parse_args(argv)


def get_batch(
    data: list[int], block_size: int, batch_size: int
) -> list[tuple[list[int], list[int]]]:
    """Random (input, target) windows; the target is the input shifted by one."""
    batch = []
    for _ in range(batch_size):
        i = random.randrange(len(data) - block_size)
        batch.append((data[i : i + block_size], data[i + 1 : i + block_size + 1]))
    return batch


def train(args: argparse.Namespace) -> None:
    text = args.data.read_text(encoding="utf-8")
    chars = sorted(set(text))
    char_to_idx = {c: i for i, c in enumerate(chars)}
    data = [char_to_idx[c] for c in text]
    if len(data) <= args.block_size:
        raise SystemExit(f"{args.data} is too short for --block-size {args.block_size}")

    random.seed(args.seed)
    model = MiniGPT(
        vocab_size=len(chars),
        embed_dim=args.embed_dim,
        num_heads=2,
        num_layers=args.layers,
        max_seq_len=args.block_size,
    )
    params = model.parameters()
    print(
        f"{len(text)} characters, vocabulary of {len(chars)}, {len(params)} parameters; "
        f"a model that guesses uniformly has loss ln({len(chars)}) = {math.log(len(chars)):.3f}"
    )

    start = time.perf_counter()
    window: list[float] = []
    for step in range(1, args.steps + 1):
        batch = get_batch(data, args.block_size, args.batch_size)
        losses = [cross_entropy_loss(model(x), y) for x, y in batch]
        loss = Value.sum(losses) * (1.0 / len(losses))

        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            p.data -= args.lr * p.grad

        window.append(loss.data)
        if step == 1 or step % args.print_every == 0 or step == args.steps:
            mean = sum(window) / len(window)
            elapsed = time.perf_counter() - start
            print(f"step {step:5d}  loss {mean:.3f}  ({elapsed:.1f}s)")
            window.clear()

    prompt = [data[0]]
    ids = generate(model, prompt, args.sample_length, temperature=args.temperature)
    print("\nsample:\n" + "".join(chars[i] for i in ids))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        train(args)
    except NotImplementedError as exc:
        print(f"minigpt.py is not finished yet: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
