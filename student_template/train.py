"""Train your MiniGPT on a tiny text, then let it write.

    python3 train.py                     # the defaults (see README.md for timings)
    python3 train.py --steps 600 --lr 0.5 --seed 1

The loop is the one from the lesson: pick random windows of the text, compute
the next-character loss, zero the gradients, backpropagate, take a plain SGD
step. The printed loss should fall well below its starting value (about
ln(vocabulary size)); the sample at the end should look like the text.
Training stops, with advice, if the loss explodes.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path
from typing import NoReturn

DEFAULT_DATA = Path(__file__).resolve().parent / "data" / "tiny.txt"
OLDEST_PYTHON = (3, 9)


class TrainingDiverged(Exception):
    """The loss or the gradients stopped being usable numbers."""


# Option types: argparse turns their ArgumentTypeError into a one-line usage error.


def positive_int(text: str) -> int:
    value = int_value(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int_value(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 0, got {text}")
    return value


def int_value(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number greater than 0, got {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train MiniGPT on a text file, then sample.")
    add = parser.add_argument
    add("--steps", type=positive_int, default=250, help="training steps (default 250)")
    add("--lr", type=positive_float, default=0.3, help="SGD learning rate (default 0.3)")
    add("--seed", type=int_value, default=0, help="random seed (default 0)")
    add("--batch-size", type=positive_int, default=2, help="windows per step (default 2)")
    add("--block-size", type=positive_int, default=8, help="context length T (default 8)")
    add("--embed-dim", type=positive_int, default=16, help="D (default 16)")
    add("--layers", type=positive_int, default=2, help="transformer blocks (default 2)")
    add("--print-every", type=positive_int, default=25, help="steps between reports (25)")
    add("--sample-length", type=non_negative_int, default=120, help="characters to generate")
    add("--temperature", type=positive_float, default=0.8, help="sampling temperature (0.8)")
    add("--data", type=Path, default=DEFAULT_DATA, help="UTF-8 text file to learn")
    args = parser.parse_args(argv)
    try:
        args.text = args.data.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        parser.error(f"argument --data: cannot read {args.data} as UTF-8 text ({exc})")
    if len(args.text) <= args.block_size:
        parser.error(
            f"argument --block-size: {args.block_size} needs a text of at least "
            f"{args.block_size + 1} characters, and {args.data} has {len(args.text)}"
        )
    return args


def get_batch(
    data: list[int], block_size: int, batch_size: int
) -> list[tuple[list[int], list[int]]]:
    """Random (input, target) windows; the target is the input shifted by one."""
    batch = []
    for _ in range(batch_size):
        i = random.randrange(len(data) - block_size)
        batch.append((data[i : i + block_size], data[i + 1 : i + block_size + 1]))
    return batch


def check_step(loss: float, first_loss: float, params: list) -> None:
    """Raise TrainingDiverged when training has blown up and cannot recover.

    A loss far above where it started (a uniform guess scores ln V, about 3)
    means the steps overshoot; a non-finite loss or gradient poisons every
    weight it touches at the next update.
    """
    if not math.isfinite(loss):
        raise TrainingDiverged(f"the loss became {loss}")
    if loss > 10 * max(first_loss, 1.0):
        raise TrainingDiverged(f"the loss exploded to {loss:.4g} (it started at {first_loss:.3f})")
    if not all(math.isfinite(p.grad) for p in params):
        raise TrainingDiverged("some gradients became infinite or NaN")


def train(args: argparse.Namespace) -> None:
    from engine import Value  # after the version check in main()
    from minigpt import MiniGPT, cross_entropy_loss, generate

    text = args.text
    chars = sorted(set(text))
    char_to_idx = {c: i for i, c in enumerate(chars)}
    data = [char_to_idx[c] for c in text]

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
    first_loss = math.nan
    for step in range(1, args.steps + 1):
        try:
            batch = get_batch(data, args.block_size, args.batch_size)
            losses = [cross_entropy_loss(model(x), y) for x, y in batch]
            loss = Value.sum(losses) * (1.0 / len(losses))
            for p in params:
                p.grad = 0.0
            loss.backward()
            if step == 1:
                first_loss = loss.data
            check_step(loss.data, first_loss, params)
            for p in params:
                p.data -= args.lr * p.grad
        except OverflowError as exc:  # raised by exp() or ** on huge numbers
            stop_diverged(step, f"a number overflowed ({exc})", args.lr)
        except TrainingDiverged as exc:
            stop_diverged(step, str(exc), args.lr)

        window.append(loss.data)
        if step == 1 or step % args.print_every == 0 or step == args.steps:
            mean = sum(window) / len(window)
            elapsed = time.perf_counter() - start
            left = elapsed / step * (args.steps - step)
            timing = f"{elapsed:.1f}s, about {left:.0f}s left" if left else f"{elapsed:.1f}s"
            print(f"step {step:5d}  loss {mean:.3f}  ({timing})")
            window.clear()

    if args.sample_length == 0:
        return
    prompt = [data[0]]
    started = time.perf_counter()
    model(data[: args.block_size])  # time one call: generate makes one per character
    estimate = (time.perf_counter() - started) * args.sample_length
    print(
        f"\nsampling {args.sample_length} characters at temperature {args.temperature} "
        f"(one model call per character, about {estimate:.0f}s)...",
        flush=True,
    )
    ids = generate(model, prompt, args.sample_length, temperature=args.temperature)
    print(f"sample ({time.perf_counter() - started:.1f}s):\n" + "".join(chars[i] for i in ids))


def stop_diverged(step: int, what: str, lr: float) -> NoReturn:
    raise SystemExit(
        f"training stopped at step {step}: {what}.\n"
        f"The learning rate is probably too large: try a smaller one, e.g. --lr {lr / 10:g} "
        f"(this run used --lr {lr:g}). If the loss also explodes with a small learning rate, "
        "look for an unstable step in your model, such as a softmax or a loss that does "
        "not subtract the maximum before exp()."
    )


def main(argv: list[str] | None = None) -> int:
    if sys.version_info < OLDEST_PYTHON:
        print("train.py needs Python 3.9 or newer (the grader uses 3.11)", file=sys.stderr)
        return 1
    args = parse_args(argv)
    try:
        train(args)
    except NotImplementedError as exc:
        print(f"minigpt.py is not finished yet: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopped (Ctrl-C)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
