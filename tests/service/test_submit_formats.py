"""`grade submit --wait` prints every format `grade` prints, from a real `grade serve`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import xmlschema
from click.testing import CliRunner
from support import REFERENCE

from grader.cli import cli
from grader.formats import FORMATS

from .service_support import Service, broken_source

pytestmark = pytest.mark.service

SCHEMA = Path(__file__).parent.parent / "junit-10.xsd"


def test_submit_offers_every_format_of_grade() -> None:
    submit = next(c for c in cli.commands.values() if c.name == "submit")
    choices = next(p for p in submit.params if p.name == "fmt").type.choices
    assert tuple(choices) == FORMATS and {"prairielearn", "junit"} <= set(choices)


def test_submit_prints_prairielearn_and_junit(
    start_service: Callable[..., Service], tmp_path: Path
) -> None:
    service = start_service("--workers", "1")
    base = ["submit", "--server", service.url, "--token", service.token(), "--wait"]
    runner = CliRunner()
    broken = tmp_path / "minigpt.py"
    broken.write_bytes(broken_source("formats"))
    prairielearn = runner.invoke(cli, [*base, str(broken), "--format", "prairielearn"])
    assert prairielearn.exit_code == 1, prairielearn.output
    results = json.loads(prairielearn.stdout)
    assert results["gradable"] is False and "Syntax error" in results["format_errors"][0]
    passed = runner.invoke(cli, [*base, str(REFERENCE), "--format", "prairielearn"])
    assert passed.exit_code == 0, passed.output
    assert json.loads(passed.stdout)["score"] == 1.0
    junit = runner.invoke(cli, [*base, str(broken), "--format", "junit"])
    assert junit.exit_code == 1, junit.output
    xmlschema.XMLSchema(SCHEMA).validate(junit.stdout)
    assert 'failures="18"' in junit.stdout and "Points 0/100" in junit.stderr
