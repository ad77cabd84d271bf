"""Small helpers the benchmarks share: repeat, take the median, print a table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(action: Callable[[], object], runs: int, warmup: int = 1) -> float:
    """Median wall time of ``action`` over ``runs`` runs, after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        action()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def interleaved_medians(
    actions: dict[str, Callable[[], object]], runs: int, warmup: int = 1
) -> dict[str, float]:
    """Median wall time of each action, running them in turn (round-robin)."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    for round_number in range(warmup + runs):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            if round_number >= warmup:
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)
