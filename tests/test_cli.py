"""The `grade` command through click's runner: formats, files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support import REFERENCE, REPO

from grader.cli import cli
from grader.models import Feedback
from grader.rubric import CHECKS

PROCESS = ["--sandbox", "process"]


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_panel_for_a_correct_file_with_spaces_in_its_path(tmp_path: Path) -> None:
    path = tmp_path / "my folder" / "Ada Lovelace - minigpt (final).py"
    path.parent.mkdir()
    path.write_bytes(REFERENCE.read_bytes())
    result = run(*PROCESS, str(path))
    assert result.exit_code == 0, result.output
    assert "No issues detected" in result.output
    assert "Points 100/100" in result.output


def test_json_on_stdout_is_the_feedback_schema(write_submission: Any) -> None:
    path = write_submission("def broken(:\n")
    result = run("check", *PROCESS, "--format", "json", str(path))
    assert result.exit_code == 1
    feedback = Feedback.model_validate_json(result.stdout)
    assert feedback.status == "error" and feedback.error is not None
    assert feedback.error.kind == "syntax"
    assert "Points 0/100" in result.stderr


def test_gradescope_format_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "results" / "results.json"
    result = run(*PROCESS, "--format", "gradescope", "--output", str(out), str(REFERENCE))
    assert result.exit_code == 0
    assert result.stdout == ""
    data = json.loads(out.read_text())
    assert data["score"] == 100 and len(data["tests"]) == len(CHECKS)
    assert not list(out.parent.glob(".*.tmp")), "the atomic write left a temp file"


def test_gradescope_details_follow_the_results_on_stdout(write_submission: Any) -> None:
    """With the details held back they go where Gradescope keeps them: the run's stdout
    (marked stdout_visibility); on stderr when stdout carries the results.json."""
    path = write_submission("def broken(:\n")
    out = path.parent / "results.json"
    details = ["--format", "gradescope", "--gradescope-details", "after_due_date"]
    to_file = run(*PROCESS, *details, "-o", str(out), str(path))
    assert to_file.exit_code == 1
    assert "Syntax error" in to_file.stdout and "Points 0/100" in to_file.stderr
    assert json.loads(out.read_text())["stdout_visibility"] == "after_due_date"
    to_stdout = run(*PROCESS, *details, str(path))
    assert json.loads(to_stdout.stdout)["stdout_visibility"] == "after_due_date"
    assert "Syntax error" in to_stdout.stderr


def test_issues_give_exit_1_and_hints(write_submission: Any) -> None:
    source = REFERENCE.read_text() + (
        "\n\ndef generate(model, start_ids, max_new_tokens, temperature=1.0):\n"
        "    return list(start_ids) + [0] * max_new_tokens\n"
    )
    result = run(*PROCESS, str(write_submission(source)))
    assert result.exit_code == 1
    assert "issues detected" in result.output and "hint:" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p / "nope.py", "No such file"),
        (lambda p: p, "is a directory"),
    ],
)
def test_bad_paths_are_usage_errors(tmp_path: Path, make: Any, words: str) -> None:
    result = run(*PROCESS, str(make(tmp_path)))
    assert result.exit_code == 2
    assert words in result.stderr


def test_symlink_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "minigpt.py"
    link.symlink_to(REFERENCE)
    result = run(*PROCESS, str(link))
    assert result.exit_code == 2 and "symbolic link" in result.stderr


def test_wrong_flag_is_a_usage_error() -> None:
    result = run("--format", "xml", str(REFERENCE))
    assert result.exit_code == 2
    assert "xml" in result.output


def test_huge_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    huge = tmp_path / "minigpt.py"
    with huge.open("wb") as handle:
        handle.truncate(2 * 1024**3)  # sparse: 2 GiB on paper, nothing on disk
    result = run(*PROCESS, "--format", "json", str(huge))
    assert result.exit_code == 1
    feedback = Feedback.model_validate_json(result.stdout)
    assert feedback.error is not None and "2,147,483,648 bytes" in feedback.error.message


def test_missing_engine_is_infrastructure_error_exit_3() -> None:
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = run("--format", "json", str(REFERENCE), env=env)
    assert result.exit_code == 3
    feedback = Feedback.model_validate_json(result.stdout)
    assert feedback.status == "error" and feedback.gradable is False
    assert feedback.score is None
    assert feedback.error is not None and feedback.error.kind == "infrastructure"
    assert "Docker" in feedback.error.message and "--sandbox process" in feedback.error.message
    assert "not gradable" in result.stderr


def test_missing_engine_panel_says_how_to_fix() -> None:
    result = run(str(REFERENCE), env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.exit_code == 3
    assert "Cannot reach a Docker engine" in result.stderr
    assert "ensure-docker.sh" in result.stderr


def test_python_dash_m_grader_is_the_same_command() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            "--sandbox",
            "process",
            "--format",
            "json",
            str(REFERENCE),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert Feedback.model_validate_json(proc.stdout).score == 100


def test_schema_command_prints_a_json_schema() -> None:
    result = run("schema")
    schema = json.loads(result.output)
    assert "checks" in schema["properties"] and "schema_version" in schema["properties"]


def _bank(tmp_path: Path, old: str, new: str, check: str) -> Path:
    """A one-bug bank that reuses the real bank's helpers."""
    bank = tmp_path / "bank"
    bank.mkdir()
    real = REPO / "tests" / "solutions" / "mutations.py"
    (bank / "mutations.py").write_text(
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('real_bank', {str(real)!r})\n"
        "real = importlib.util.module_from_spec(spec)\n"
        "sys.modules['real_bank'] = real\n"
        "spec.loader.exec_module(real)\n"
        "Mutation, apply, reference_source = real.Mutation, real.apply, real.reference_source\n"
        f"MUTATIONS = (Mutation('only', {check!r}, 'one bug', {old!r}, {new!r}),)\n"
    )
    return bank


def test_selftest_passes_when_the_bug_is_caught(tmp_path: Path) -> None:
    old = "        context = tokens[-model.max_seq_len :]\n"
    bank = _bank(
        tmp_path, old, "        context = tokens[: model.max_seq_len]\n", "generate_cropping"
    )
    result = run("selftest", "--bank", str(bank), "-j", "2")
    assert result.exit_code == 0, result.output
    assert "ok   bug:only: failed generate_cropping" in result.output
    assert "2 passed, 0 failed" in result.output


def test_selftest_fails_when_a_bug_slips_past(tmp_path: Path) -> None:
    first_line = REFERENCE.read_text().splitlines(keepends=True)[0]
    bank = _bank(tmp_path, first_line, first_line.rstrip("\n") + " (edited)\n", "shapes")
    result = run("selftest", "--bank", str(bank), "-j", "2")
    assert result.exit_code == 1
    assert "FAIL bug:only: bug not caught by shapes" in result.output


HOSTILE_NAME = "\x1b[2J\x1b]8;;http:evil\x07[bold red]ada\u202egnp.py"


def test_a_hostile_file_name_is_shown_neutralised(tmp_path: Path) -> None:
    path = tmp_path / HOSTILE_NAME
    path.write_bytes(REFERENCE.read_bytes())
    result = run(*PROCESS, str(path))
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\u202e" not in result.output
    assert "[bold red]ada" in result.output, "markup is shown, not interpreted"
    assert "\\x1b[2J" in result.output


def test_a_file_name_that_is_not_utf8_is_graded(tmp_path: Path) -> None:
    path = Path(os.fsdecode(bytes(tmp_path) + b"/\xff\xfe minigpt.py"))
    path.write_bytes(REFERENCE.read_bytes())
    result = run(*PROCESS, "--format", "json", str(path))
    assert result.exit_code == 0, result.output
    feedback = Feedback.model_validate_json(result.stdout)
    assert feedback.submission == "\\xff\\xfe minigpt.py" and feedback.score == 100
    panel = run(*PROCESS, str(path))
    assert panel.exit_code == 0 and "\\xff\\xfe minigpt.py" in panel.output


def test_messages_about_a_hostile_path_are_neutralised(tmp_path: Path) -> None:
    missing = Path(os.fsdecode(bytes(tmp_path) + b"/\x1b[31m\xff.py"))
    result = run(*PROCESS, str(missing))
    assert result.exit_code == 2
    assert "No such file" in result.stderr and "\x1b" not in result.stderr
    assert "\\x1b[31m\\xff.py" in result.stderr
    link = Path(os.fsdecode(bytes(tmp_path) + b"/\x1b]8;;x\x07link.py"))
    link.symlink_to(REFERENCE)
    result = run(*PROCESS, str(link))
    assert result.exit_code == 2 and "symbolic link" in result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


def test_infrastructure_error_json_names_a_non_utf8_file(tmp_path: Path) -> None:
    path = Path(os.fsdecode(bytes(tmp_path) + b"/\xff.py"))
    path.write_bytes(REFERENCE.read_bytes())
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = run("--format", "json", str(path), env=env)
    assert result.exit_code == 3
    feedback = Feedback.model_validate_json(result.stdout)
    assert feedback.submission == "\\xff.py" and not feedback.gradable


def test_limit_flags_and_the_model_agree_on_every_range() -> None:
    """One source of truth: the lowest value a flag takes is the lowest the model takes."""
    import annotated_types
    from pydantic import ValidationError

    from grader.cli.options import LIMIT_FLAGS
    from grader.settings import Limits

    runner = CliRunner()
    for flag, field in LIMIT_FLAGS.items():
        info = Limits.model_fields[field]
        low = next(r.ge for r in info.metadata if isinstance(r, annotated_types.Ge))
        below = low - 1 if info.annotation is int else low / 2
        with pytest.raises(ValidationError):
            Limits(**{field: below})
        result = runner.invoke(cli, ["check", "missing.py", flag, str(below)])
        assert result.exit_code == 2 and "range" in result.output, (flag, result.output)
        Limits(**{field: low})  # the lowest value itself is accepted by both


def test_grader_image_names_the_default_image(tmp_path: Path) -> None:
    """GRADER_IMAGE changes the default of --image (and of build-image's --tag)."""
    env = {**os.environ, "GRADER_IMAGE": "minigpt-grader:branch-x"}
    for command in ("check", "build-image"):
        shown = subprocess.run(
            [sys.executable, "-m", "grader", command, "--help"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        assert "branch-x" in shown, shown  # (help text wraps the long default)
    # A grading with a missing image names the image it looked for.
    path = tmp_path / "minigpt.py"
    path.write_bytes(REFERENCE.read_bytes())
    env["GRADER_IMAGE"] = "minigpt-grader:no-such-tag"
    done = subprocess.run(
        [sys.executable, "-m", "grader", str(path)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 3
    assert "minigpt-grader:no-such-tag" in done.stderr, done.stderr


def test_the_shared_cli_modules_import_no_command() -> None:
    """grader.cli.output and grader.cli.options sit below every command: importing a service
    command module and them, in a fresh interpreter, assembles no group and imports no
    grading command (else the service's commands and the CLI import each other again)."""
    commands = [
        "grader.cli.app",
        "grader.cli.grading",
        "grader.cli.prepare",
        "grader.service.commands",
    ]
    code = (
        "import sys, grader.service.page_commands, grader.service.admin_commands, "
        "grader.cli.output, grader.cli.options; "
        f"print([m for m in {commands!r} if m in sys.modules])"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert shown.returncode == 0 and shown.stdout.strip() == "[]", shown.stdout + shown.stderr
    # The group itself still has every command, the service's included.
    expected = {"check", "batch", "schema", "selftest", "build-image", "serve", "worker", "submit"}
    assert expected <= set(cli.commands)
