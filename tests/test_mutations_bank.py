"""The mutation bank stays in step with the reference solution and the rubric."""

from __future__ import annotations

import ast
import re

import pytest
from solutions.mutations import MUTATIONS, Mutation, apply, reference_source

from grader.rubric import CHECKS

RUBRIC_IDS = {check.id for check in CHECKS}


@pytest.fixture(scope="module")
def reference() -> str:
    return reference_source()


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.id)
def test_mutation_applies_once_and_parses(mutation: Mutation, reference: str) -> None:
    assert reference.count(mutation.old) == 1
    mutated = apply(mutation, reference)
    assert mutated != reference
    ast.parse(mutated)


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


@pytest.mark.parametrize("source", ["no match here", "x\nx\n"])
def test_apply_rejects_missing_or_repeated_snippet(source: str) -> None:
    with pytest.raises(ValueError, match="occurs"):
        apply(Mutation("probe", "shapes", "A probe.", "x\n", "y\n"), source)
