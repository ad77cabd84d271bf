"""The grader as a package: the wheel's contents, the student kit, and the wheel end to end.

The end-to-end test builds the wheel from this tree, installs it into a fresh
virtualenv in a temporary folder outside the repository and runs every
command an instructor uses from there: build-image, grading in Docker and in
a process, batch, selftest, gradescope-package and student-kit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from solutions.mutations import MUTATIONS
from support import REFERENCE, REPO, SKELETON, SOLUTIONS

from grader import paths, policy
from grader.cli import cli
from grader.errors import UsageError
from grader.selftest import cases as selftest_cases
from grader.student_kit import KIT_FOLDER, build_kit, kit_files

# What students must get: the skeleton, the pack, public tests, train.py and data, README.
STUDENT_FILES = {
    "README.md",
    "minigpt.py",
    "engine.py",
    "nn.py",
    "train.py",
    "conftest.py",
    "pytest.ini",
    "data/tiny.txt",
    "tests/test_1_layers.py",
    "tests/helpers.py",
    "check.py",
    "grader_checks.json",
}


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this tree (once per session)."""
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--wheel-dir", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("minigpt_grader-*.whl")
    return found


def test_wheel_carries_the_grader_and_its_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = "grader/_data/"
    expected = {
        "grader/suite/test_shapes.py",
        "grader/suite/suite.ini",
        "grader/worker/main.py",
        "grader/judge/runner.py",
        "grader/policy/__init__.py",
        "grader/policy/allowlists.py",
        "grader/policy/checker.py",
        "grader/limits.py",
        "grader/py.typed",
        data + "reference/minigpt.py",
        data + "Dockerfile",
        data + "docker/requirements.txt",
        data + "scripts/make-base-image.sh",
        data + "tests/solutions/mutations.py",
        data + "tests/solutions/correct_naive.py",
        *(data + "tests/solutions/" + m.base for m in MUTATIONS if m.base),  # every bug's base
        *(data + "student_template/" + name for name in STUDENT_FILES),
    }
    assert expected <= names, expected - names
    caches = [n for n in names if "__pycache__" in n or ".pytest_cache" in n or n.endswith(".pyc")]
    assert not caches


def test_checkout_reads_data_in_place() -> None:
    assert not paths.IN_WHEEL
    assert paths.REFERENCE_PATH == REPO / "reference" / "minigpt.py"
    assert paths.BANK_DIR == SOLUTIONS
    assert paths.logical_name(paths.REFERENCE_PATH) == "reference/minigpt.py"
    assert paths.logical_name(paths.SUITE_DIR / "conftest.py") == "grader/suite/conftest.py"


def _kit_names(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def assert_nothing_hidden(files: dict[str, bytes]) -> None:
    """No reference, no hidden-suite module, no grader file, by name or by content."""
    reference = paths.REFERENCE_PATH.read_bytes()
    suite = {p.name for p in paths.SUITE_DIR.glob("*.py")} - {"conftest.py"}
    for name, data in files.items():
        assert Path(name).name not in suite, name
        assert not name.startswith(("grader/", "reference/")), name
        assert data != reference, f"{name} is the reference"
        assert b"mark.check(" not in data, f"{name} looks like a hidden-suite test"


def test_student_kit_folder_has_what_students_need(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["student-kit", "--out", str(tmp_path / "kit")])
    assert result.exit_code == 0, result.output
    kit = tmp_path / "kit"
    names = _kit_names(kit)
    assert names >= STUDENT_FILES
    assert (kit / "minigpt.py").read_bytes() == SKELETON.read_bytes()
    assert not [n for n in names if "cache" in n or n.endswith(".pyc")]
    assert_nothing_hidden({n: (kit / n).read_bytes() for n in names})


def test_student_kit_zip(tmp_path: Path) -> None:
    out = build_kit(tmp_path / "kit.zip")
    with zipfile.ZipFile(out) as archive:
        files = {n.removeprefix(f"{KIT_FOLDER}/"): archive.read(n) for n in archive.namelist()}
    assert all(n.startswith(f"{KIT_FOLDER}/") for n in zipfile.ZipFile(out).namelist())
    assert set(files) == {name for name, _ in kit_files()}
    assert set(files) >= STUDENT_FILES
    assert_nothing_hidden(files)


def test_student_kit_never_overwrites_a_folder(tmp_path: Path) -> None:
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "minigpt.py").write_text("my work")
    result = CliRunner().invoke(cli, ["student-kit", "--out", str(tmp_path / "kit")])
    assert result.exit_code == 2
    assert (tmp_path / "kit" / "minigpt.py").read_text() == "my work"


def test_student_kit_refuses_a_leaked_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = tmp_path / "template"
    template.mkdir()
    (template / "minigpt.py").write_bytes(SKELETON.read_bytes())
    (template / "solution.py").write_bytes(REFERENCE.read_bytes())  # an instructor's slip
    monkeypatch.setattr(paths, "TEMPLATE_DIR", template)
    with pytest.raises(UsageError, match=r"solution\.py"):
        build_kit(tmp_path / "kit.zip")
    assert not (tmp_path / "kit.zip").exists()


# --- the wheel in a fresh virtualenv, outside the repository ----------------------------


class Venv:
    """A fresh virtualenv with the wheel installed; commands run from a folder outside."""

    def __init__(self, root: Path, wheel: Path) -> None:
        self.root = root
        self.bin = root / "venv" / "bin"
        self.work = root / "work"
        self.work.mkdir()
        subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
        self.run("pip", "install", "--quiet", str(wheel), check=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.bin}:{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def run(self, *command: str, check: bool = False, timeout: float = 600) -> Any:
        result = subprocess.run(
            [str(self.bin / command[0]), *command[1:]],
            cwd=self.work,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def python(self, code: str) -> str:
        return str(self.run("python", "-c", code, check=True).stdout.strip())


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    root = tmp_path_factory.mktemp("fresh")
    assert not root.is_relative_to(REPO)
    yield Venv(root, wheel)


def write_bank(folder: Path) -> Path:
    """A two-case bank for --bank: one bug on the installed reference, one correct solution."""
    folder.mkdir()
    (folder / "correct_naive.py").write_bytes((SOLUTIONS / "correct_naive.py").read_bytes())
    (folder / "mutations.py").write_text(
        "from dataclasses import dataclass\n"
        "from grader import paths\n\n"
        "@dataclass(frozen=True)\n"
        "class Mutation:\n"
        "    id: str\n    check: str\n    description: str\n    old: str\n    new: str\n\n"
        "def reference_source():\n"
        "    return paths.REFERENCE_PATH.read_text(encoding='utf-8')\n\n"
        "def apply(mutation, source):\n"
        "    assert source.count(mutation.old) == 1\n"
        "    return source.replace(mutation.old, mutation.new)\n\n"
        "MUTATIONS = (Mutation('no-mask', 'causal_mask', 'no causal mask',\n"
        "    'visible = i + 1 if causal else len(x)', 'visible = len(x)'),)\n"
    )
    return folder


@pytest.mark.slow
@pytest.mark.docker
def test_wheel_works_outside_the_repository(docker_client: Any, venv: Venv) -> None:
    # the installed package reads its data from the wheel, and agrees on the suite hash
    found = venv.python(
        "from grader import paths, policy, selftest; "
        "print(paths.IN_WHEEL, paths.suite_hash(), len(selftest.cases()), paths.PACKAGE_DIR, "
        "','.join(sorted(policy.module_names('engine'))))"
    ).split()
    assert found[:2] == ["True", paths.suite_hash()]
    assert int(found[2]) == len(selftest_cases())  # the shipped bank is the checkout's
    assert not Path(found[3]).is_relative_to(REPO)
    # the policy's default pack is the wheel's own (grader/_data/student_template)
    assert found[4] == ",".join(sorted(policy.module_names("engine"))) and "Value" in found[4]

    # build-image from package data, under a tag of its own (removed at the end)
    tag = f"minigpt-grader-wheeltest:{uuid.uuid4().hex[:8]}"
    try:
        venv.run("grade", "build-image", "--tag", tag, check=True)
        built = docker_client.images.get(tag).labels
        assert built["org.minigpt-grader.suite-hash"] == paths.suite_hash()
        submission = venv.work / "ada.py"
        submission.write_bytes(REFERENCE.read_bytes())
        docker = venv.run("grade", str(submission), "--image", tag)
        assert docker.returncode == 0, docker.stdout + docker.stderr
        assert "Points 100/100" in docker.stdout

        subs = venv.work / "class"
        subs.mkdir()
        (subs / "ada.py").write_bytes(REFERENCE.read_bytes())
        (subs / "bob.py").write_text("def broken(:\n")
        batch = venv.run("grade", "batch", str(subs), "--out", "out", "--image", tag)
        assert batch.returncode == 0, batch.stdout + batch.stderr
        assert (venv.work / "out" / "gradebook.csv").is_file()
        assert (venv.work / "out" / "results" / "ada.json").is_file()
    finally:
        docker_client.images.remove(tag, force=True)

    process = venv.run("grade", str(submission), "--sandbox", "process", "--format", "json")
    assert process.returncode == 0, process.stderr
    assert '"isolated": false' in process.stdout

    selftest = venv.run("grade", "selftest", "--bank", str(write_bank(venv.work / "bank")))
    assert selftest.returncode == 0, selftest.stdout + selftest.stderr
    assert "3 passed, 0 failed" in selftest.stdout

    kit = venv.run("grade", "student-kit", "--out", "kit.zip")
    assert kit.returncode == 0, kit.stderr
    with zipfile.ZipFile(venv.work / "kit.zip") as archive:
        files = {n.removeprefix(f"{KIT_FOLDER}/"): archive.read(n) for n in archive.namelist()}
    assert set(files) >= STUDENT_FILES
    assert_nothing_hidden(files)

    # the Gradescope zip made from the wheel grades like Gradescope runs it
    venv.run("grade", "gradescope-package", "--out", "autograder.zip", check=True)
    root = venv.work / "autograder"
    zipfile.ZipFile(venv.work / "autograder.zip").extractall(root)
    (root / "submission").mkdir()
    (root / "submission" / "minigpt.py").write_bytes(REFERENCE.read_bytes())
    env = {
        "AUTOGRADER_ROOT": str(root),
        "GRADER_PYTHON": str(venv.bin / "python"),
        "PATH": "/usr/bin:/bin",
    }
    gradescope = subprocess.run(
        ["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True
    )
    assert gradescope.returncode == 0, gradescope.stderr
    assert json.loads((root / "results" / "results.json").read_text())["score"] == 100


def test_the_image_label_covers_every_file_the_image_is_built_from() -> None:
    """One list: the build context is image_files(), and its digest is the staleness label."""
    names = set(paths.image_files())
    for required in (
        "Dockerfile",
        "docker/requirements.txt",
        "grader/prairielearn_entry.py",
        "grader/suite/suite.ini",
        "grader/settings.py",
        "grader/worker/main.py",
    ):
        assert required in names, required
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    # Host-only code is not in the image: the service and the class report never run there.
    assert not any(n.startswith(("grader/service/", "grader/report/")) for n in names)
    suite = {paths.logical_name(p) for p in paths.suite_files()}
    assert {"grader/suite/suite.ini", "grader/settings.py", "grader/__about__.py"} <= suite
    # the policy decides verdicts too: every file of its package, and the size limit's default
    policy_files = {paths.logical_name(p) for p in (paths.PACKAGE_DIR / "policy").glob("*.py")}
    assert len(policy_files) > 1 and policy_files | {"grader/limits.py"} <= suite
    assert (
        suite - {"reference/minigpt.py", "student_template/engine.py", "student_template/nn.py"}
        <= names
    )
