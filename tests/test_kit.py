"""The students' kit as grade student-kit builds it: its map of checks, its README.

- The map of checks (``grader_checks.json``) is the rubric's, written afresh
  into every kit; it names no hidden value.
- The README's "How to submit" text is the course's (``--submit-text``) or a
  default; bad files are refused.
- The kit installs in a fresh virtual environment with the README's own
  commands, and check.py then runs there (``network``: pip install pytest).

The public tests and check.py themselves: ``test_public_tests.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import kit_support
import pytest
from click.testing import CliRunner
from kit_support import TEMPLATE, copy_pack
from support import REFERENCE

from grader import paths
from grader.cli import cli
from grader.kit_checks import GRADER_ONLY, MAP_NAME, checks_json, checks_map
from grader.rubric import CHECKS, MAX_SCORE
from grader.student_kit import SUBMIT_END, SUBMIT_START, build_kit, kit_contents

RUBRIC_IDS = [c.id for c in CHECKS]


# --------------------------------------------------------------------------
# The map of the grader's checks


def test_map_is_the_rubric() -> None:
    data = checks_map()
    assert [c["id"] for c in data["checks"]] == RUBRIC_IDS
    assert [(c["title"], c["points"]) for c in data["checks"]] == [
        (c.title, c.points) for c in CHECKS
    ]
    assert data["max_score"] == MAX_SCORE
    assert set(GRADER_ONLY) == set(RUBRIC_IDS)


def test_map_names_no_hidden_value() -> None:
    """What only the grader can tell is said in words: no size, seed, count or input."""
    for check in checks_map()["checks"]:
        assert not re.search(r"\d", check["grader_only"]), check


def test_template_map_is_current() -> None:
    """The template's copy (what check.py reads in a checkout) is the generated one."""
    assert (TEMPLATE / MAP_NAME).read_text(encoding="utf-8") == checks_json(), (
        "regenerate it: python -c 'from grader.kit_checks import checks_json; "
        'print(checks_json(), end="")\' > student_template/grader_checks.json'
    )


def test_kit_map_is_written_from_the_rubric(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = copy_pack(tmp_path)
    (template / MAP_NAME).write_text('{"checks": []}', encoding="utf-8")  # a stale copy
    monkeypatch.setattr(paths, "TEMPLATE_DIR", template)
    kit = build_kit(tmp_path / "kit")
    assert (kit / MAP_NAME).read_text(encoding="utf-8") == checks_json()


def test_readme_counts_agree_with_the_rubric() -> None:
    readme = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    assert f"{len(CHECKS)} checks worth {MAX_SCORE:g} points" in " ".join(readme.split())
    assert f"the grader's {len(CHECKS)} checks" in " ".join(readme.split())


# --------------------------------------------------------------------------
# How to submit


def submit_section(readme: str) -> str:
    start = readme.index(SUBMIT_START)
    body_start = readme.index("\n", start) + 1
    return readme[body_start : readme.index(SUBMIT_END)]


def test_default_submit_text_says_what_to_hand_in() -> None:
    readme = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    assert readme.count(SUBMIT_START) == 1 and readme.count(SUBMIT_END) == 1
    assert "## How to submit" in readme[: readme.index(SUBMIT_START)]
    text = submit_section(readme)
    assert "`minigpt.py`" in text and "check.py" in text


def test_submit_text_from_the_course(tmp_path: Path) -> None:
    text = tmp_path / "submit.md"
    text.write_bytes("Upload `minigpt.py` to Moodle, *Capstone* → Mini-GPT.\r\n".encode())
    kit = tmp_path / "kit.zip"
    result = CliRunner().invoke(cli, ["student-kit", "--out", str(kit), "--submit-text", str(text)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(kit) as archive:
        readme = archive.read("minigpt/README.md").decode()
        names = archive.namelist()
    assert submit_section(readme) == "Upload `minigpt.py` to Moodle, *Capstone* → Mini-GPT.\n"
    assert "Hand in **one file" not in readme  # the default text is gone
    assert readme.endswith(SUBMIT_END + "\n")
    assert f"minigpt/{MAP_NAME}" in names and "minigpt/check.py" in names


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (b"\xff\xfe not text", "is not UTF-8"),
        (b"x" * 5001, "at most 5000"),
        (b"see <!-- end of submit-text --> here", "section markers"),
    ],
)
def test_bad_submit_text_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    text = tmp_path / "submit.md"
    text.write_bytes(content)
    out = tmp_path / "kit"
    result = CliRunner().invoke(cli, ["student-kit", "--out", str(out), "--submit-text", str(text)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_missing_submit_text_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope.md"
    result = CliRunner().invoke(
        cli, ["student-kit", "--out", str(tmp_path / "kit"), "--submit-text", str(missing)]
    )
    assert result.exit_code == 2 and "Cannot read" in result.output


def test_kit_contents_hold_the_template_and_the_generated_files() -> None:
    names = {name for name, _ in kit_contents()}
    assert {"check.py", MAP_NAME, "tests/helpers.py", "README.md", "minigpt.py"} <= names


# --------------------------------------------------------------------------
# A fresh virtual environment, as the kit's README says


README_COMMANDS = [
    "python3 -m venv .venv",
    ".venv/bin/python -m pip install pytest",
    ".venv/bin/python check.py",
]


def test_readme_gives_these_commands_for_every_system() -> None:
    readme = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```\n(.*?)```", readme, re.S)
    assert "\n".join(README_COMMANDS) + "\n" in blocks
    windows = [
        c.replace("python3", "py").replace(".venv/bin/", ".venv\\Scripts\\")
        for c in README_COMMANDS
    ]
    assert "\n".join(windows) + "\n" in blocks
    for words in (
        "externally-managed-environment",
        "python3-venv",
        "Python 3.9 or newer",
        "pytest 8 or newer",
        "ensurepip",
    ):
        assert words in readme


@pytest.mark.network
def test_kit_installs_in_a_fresh_venv_as_the_readme_says(tmp_path: Path) -> None:
    """Unpack the kit, run the README's three commands, on the skeleton then the reference."""
    kit_zip = build_kit(tmp_path / "kit.zip")
    zipfile.ZipFile(kit_zip).extractall(tmp_path)
    kit = tmp_path / "minigpt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(Path(sys.base_prefix) / "bin" / "python3")
    env = {**kit_support.student_env(), "PATH": f"{bin_dir}:/usr/bin:/bin"}
    env.pop("VIRTUAL_ENV", None)

    def sh(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command], cwd=kit, env=env, capture_output=True, text=True, timeout=600
        )

    for command in README_COMMANDS[:2]:
        done = sh(command)
        assert done.returncode == 0, command + "\n" + done.stdout + done.stderr
    skeleton = sh(README_COMMANDS[2])
    assert skeleton.returncode == 1, skeleton.stdout + skeleton.stderr
    assert "is not implemented yet" in skeleton.stdout and "Traceback" not in skeleton.stdout
    said = " ".join(skeleton.stdout.replace("│", " ").split())
    assert "0 of 100 points" in said
    assert "Run one test alone: .venv/bin/python -m pytest -k NAME" in said
    (kit / "minigpt.py").write_bytes(REFERENCE.read_bytes())
    reference = sh(README_COMMANDS[2])
    assert reference.returncode == 0, reference.stdout + reference.stderr
    assert "18 checks pass (100 of 100 points)" in " ".join(
        reference.stdout.replace("│", " ").split()
    )
