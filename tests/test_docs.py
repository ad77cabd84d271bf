"""The architecture page and the README name files that exist: a moved file must move there too."""

from __future__ import annotations

import re

import pytest
from support import REPO

# `grader/...`, `tests/...`, `scripts/...` and the like in backticks.
TOPS = "grader|tests|benchmarks|scripts|docs|student_template|reference"
PATH = re.compile(rf"`((?:{TOPS})/[\w./-]+)`")
GENERATED = ("grader/_data",)  # made when the wheel is built


@pytest.mark.parametrize("page", ["docs/architecture.md", "README.md"])
def test_every_file_a_page_names_exists(page: str) -> None:
    text = (REPO / page).read_text(encoding="utf-8")
    named = {m.group(1).rstrip(".") for m in PATH.finditer(text)}
    assert len(named) >= 10, "the pattern still finds the page's paths"
    missing = sorted(
        p for p in named if not p.startswith(GENERATED) and not (REPO / p.rstrip("/")).exists()
    )
    assert not missing, f"{page} names files that do not exist: {missing}"


def test_the_readme_links_the_architecture_page() -> None:
    assert "(docs/architecture.md)" in (REPO / "README.md").read_text(encoding="utf-8")
