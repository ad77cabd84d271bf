"""The mutation bank stays in step with its bases (reference, correct solutions) and the rubric."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from solutions.mutations import BANK, MUTATIONS, Mutation, apply, base_source

from grader.errors import UsageError
from grader.rubric import CHECKS
from grader.selftest import cases

RUBRIC_IDS = {check.id for check in CHECKS}
CORRECT = {path.name for path in BANK.glob("correct_*.py")}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.id)
def test_mutation_applies_once_to_its_base_and_parses(mutation: Mutation) -> None:
    source = base_source(mutation)
    assert source.count(mutation.old) == 1
    mutated = apply(mutation, source)
    assert mutated != source
    ast.parse(mutated)


def test_bases_are_correct_solutions_of_the_bank() -> None:
    bases = {m.base for m in MUTATIONS} - {None}
    assert bases <= CORRECT, f"bases that are not correct_*.py files: {sorted(bases - CORRECT)}"


def test_ids_are_unique_snake_case() -> None:
    ids = [m.id for m in MUTATIONS]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in ids)


def test_checks_are_rubric_ids_and_all_covered() -> None:
    named = {m.check for m in MUTATIONS}
    unknown, uncovered = named - RUBRIC_IDS, RUBRIC_IDS - named
    assert not unknown, f"unknown check ids: {sorted(unknown)}"
    assert not uncovered, f"checks without a mutation: {sorted(uncovered)}"


def test_every_mutation_is_described() -> None:
    assert all(m.description.strip() for m in MUTATIONS)


def test_many_bugs_are_written_in_other_styles_than_the_reference() -> None:
    assert sum(m.base is not None for m in MUTATIONS) >= 25


@pytest.mark.parametrize("source", ["no match here", "x\nx\n"])
def test_apply_rejects_missing_or_repeated_snippet(source: str) -> None:
    with pytest.raises(ValueError, match="occurs"):
        apply(Mutation("probe", "shapes", "A probe.", "x\n", "y\n"), source)


def _bank(folder: Path, mutation: str) -> Path:
    """A --bank folder: one correct solution and a mutations.py holding ``mutation``."""
    folder.mkdir()
    (folder / "correct_naive.py").write_bytes((BANK / "correct_naive.py").read_bytes())
    (folder / "mutations.py").write_text(
        "from solutions.mutations import Mutation, apply, reference_source\n"
        f"MUTATIONS = ({mutation},)\n"
    )
    return folder


def test_selftest_applies_a_mutation_to_its_base_in_the_bank_folder(tmp_path: Path) -> None:
    old = "                    scores.append(Value(-1e9))\n"
    new = "                    scores.append(Value(0.0))\n"
    bank = _bank(
        tmp_path / "bank",
        f"Mutation('naive_mask', 'causal_mask', 'no mask', {old!r}, {new!r}, "
        "base='correct_naive.py')",
    )
    (bug,) = [c for c in cases(bank) if c.name == "bug:naive_mask"]
    naive = (bank / "correct_naive.py").read_text(encoding="utf-8")
    assert bug.source == naive.replace(old, new) != naive
    assert bug.must_fail == "causal_mask"
    assert "correct_naive.py" in bug.description


def test_selftest_refuses_a_base_that_is_not_a_correct_solution_of_the_bank(
    tmp_path: Path,
) -> None:
    bank = _bank(
        tmp_path / "bank",
        "Mutation('elsewhere', 'shapes', 'a bug', 'x', 'y', base='correct_gelu_nobias.py')",
    )
    with pytest.raises(UsageError, match=r"correct_gelu_nobias\.py"):
        cases(bank)


def test_selftest_reads_a_bank_written_before_bases(tmp_path: Path) -> None:
    bank = tmp_path / "old"
    bank.mkdir()
    (bank / "mutations.py").write_text(
        "from collections import namedtuple\n"
        "from solutions.mutations import apply, reference_source\n"
        "Mutation = namedtuple('Mutation', 'id check description old new')\n"
        "MUTATIONS = (Mutation('mask', 'causal_mask', 'no mask',\n"
        "    'visible = i + 1 if causal else len(x)', 'visible = len(x)'),)\n"
    )
    (bug,) = [c for c in cases(bank) if c.name == "bug:mask"]
    assert "visible = len(x)  #" in bug.source
    assert bug.description == "no mask"
