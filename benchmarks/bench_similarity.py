"""Similarity of a whole class: 500 submissions, every pair compared (issue 12, target < 60 s).

    python benchmarks/bench_similarity.py [--students 500] [--copies 10] [--keep DIR]

The class is made from the bank (``tests/solutions/correct_*.py`` and the
reference): each student's file takes each part of the API (Embedding,
LayerNorm, ... generate) and its helpers from a randomly chosen solution, gets
a harmless statement after about a third of its statements (so that two files
from the same solution still differ in many places, as two students' would),
and is disguised (names renamed, definitions reordered, comments and
docstrings dropped, layout redone). ``--copies`` students hand in a disguised copy of
another student's file instead. Prints the time to read, fingerprint and
compare every pair, how many pairs were flagged and how many planted copies
were among them.
"""

from __future__ import annotations

import argparse
import ast
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from grader import paths
from grader.report.similarity import SimilaritySettings, find_similar
from grader.worker.main import CLASSES, FUNCTIONS

sys.path.insert(0, str(paths.PROJECT_DIR / "tests"))
from disguise import disguise, vary

BANK = [
    paths.REFERENCE_PATH,
    *sorted((paths.PROJECT_DIR / "tests" / "solutions").glob("correct_*.py")),
]
API = (*CLASSES, *FUNCTIONS)  # the exercise's API, as the worker knows it


def _parts(path: Path) -> tuple[list[str], dict[str, str]]:
    """A solution's header statements (imports, constants) and its definitions by name."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    header, definitions = [], {}
    for node in tree.body:
        text = ast.get_source_segment(source, node, padded=True) or ""
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            definitions[node.name] = text
        else:
            header.append(text)
    return header, definitions


def _used_names(text: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)}


def make_student(rng: random.Random, bank: list[tuple[list[str], dict[str, str]]]) -> str:
    """One varied submission: each API part from a random solution, with the helpers it uses."""
    chosen = [bank[rng.randrange(len(bank))] for _ in API]
    header: list[str] = []
    for part_header, _ in chosen:
        header += [line for line in part_header if line not in header]
    body: dict[str, str] = {}
    for name, (_, definitions) in zip(API, chosen, strict=True):
        wanted = [name]
        while wanted:  # the part, then the helpers it calls, then theirs
            current = wanted.pop()
            if current in definitions and current not in body:
                body[current] = definitions[current]
                wanted += [n for n in _used_names(definitions[current]) if n not in API]
    return "\n".join(header) + "\n\n" + "\n\n".join(body.values()) + "\n"


def make_class(root: Path, students: int, copies: int, seed: int) -> set[frozenset[str]]:
    """Write the class into ``root`` (one folder per student); return the planted pairs."""
    rng = random.Random(seed)
    bank = [_parts(path) for path in BANK]
    sources: dict[str, str] = {}
    planted: set[frozenset[str]] = set()
    for number in range(students):
        name = f"student{number:03d}"
        if number >= copies and number < 2 * copies:
            original = f"student{number - copies:03d}"
            sources[name] = disguise(sources[original], seed=number)
            planted.add(frozenset({name, original}))
        else:
            sources[name] = disguise(vary(make_student(rng, bank), seed=number), seed=number)
    for name, text in sources.items():
        (root / name).mkdir()
        (root / name / "minigpt.py").write_text(text, encoding="utf-8")
    return planted


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children: what a busy machine does not change."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--copies", type=int, default=10, help="planted disguised copies")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--keep", type=Path, help="write the class here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        planted = make_class(root, args.students, args.copies, args.seed)
        skeleton = (paths.TEMPLATE_DIR / "minigpt.py").read_text(encoding="utf-8")
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        sources = {p.parent.name: p.read_text(encoding="utf-8") for p in root.glob("*/minigpt.py")}
        report = find_similar(sources, skeleton, SimilaritySettings())
        elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    flagged = {frozenset({p.a, p.b}) for p in report.pairs}
    print(f"students               {len(sources)}")
    print(f"pairs compared         {report.pairs_compared}")
    print(f"time (read+compare)    {elapsed:.1f} s   (target < 60 s)")
    print(f"CPU seconds            {cpu:.1f} (this process and its tokenising workers)")
    print(f"per pair               {elapsed / max(report.pairs_compared, 1) * 1e6:.0f} us")
    print(f"pairs flagged          {len(flagged)} (threshold {report.threshold:g})")
    print(f"planted copies found   {len(planted & flagged)}/{len(planted)}")
    shares = sorted((p.similarity for p in report.pairs), reverse=True)
    if shares:
        print(f"flagged similarity     max {shares[0]:.2f}, min {shares[-1]:.2f}")


if __name__ == "__main__":
    main()
