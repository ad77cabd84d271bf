"""The judge end to end (process backend): verdicts, and failures kept to one check."""

from __future__ import annotations

import io
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import hostile
import pytest
from support import REFERENCE, SKELETON, process_settings

from grader.api import grade
from grader.judge.config import ConfigError, JudgeConfig
from grader.models import Feedback
from grader.rubric import CHECKS, MAX_SCORE
from grader.sandbox.base import parse_judge_output

GENERATE_CHECKS = {
    "generate_output",
    "generate_cropping",
    "generate_sampling",
    "generate_temperature",
}


def failing(feedback: Feedback) -> set[str]:
    return {c.id for c in feedback.checks if not c.passed}


def grade_source(
    write_submission: Any, source: str, policy: bool = True, **limits: Any
) -> Feedback:
    settings = process_settings(**limits)
    settings.policy = policy
    return grade(write_submission(source), settings)


def test_reference_gets_full_marks() -> None:
    feedback = grade(REFERENCE, process_settings())
    assert feedback.status == "passed"
    assert feedback.summary == "No issues detected"
    assert feedback.score == MAX_SCORE == 100
    assert [c.id for c in feedback.checks] == [c.id for c in CHECKS]
    assert all(c.passed and not c.issues for c in feedback.checks)
    assert feedback.gradable and not feedback.isolated and feedback.sandbox == "process"
    assert len(feedback.suite_hash) == 16 and feedback.submission_sha256


def test_skeleton_scores_zero_with_one_issue_per_check() -> None:
    feedback = grade(SKELETON, process_settings())
    assert feedback.status == "failed"
    assert feedback.score == 0
    assert feedback.error is None, "the skeleton imports fine: its failures are per check"
    for check in feedback.checks:
        assert not check.passed
        assert len(check.issues) == 1, (check.id, check.issues)
        message = check.issues[0].message
        assert "not implemented yet" in message or "blocked by the error reported" in message
    assert feedback.summary == f"{len(CHECKS)} issues detected"


def test_same_submission_same_result(write_submission: Any) -> None:
    source = hostile.reference_with(
        "def generate(model, start_ids, max_new_tokens, temperature=1.0):\n"
        "    return list(start_ids) + [0] * max_new_tokens"
    )
    first = grade_source(write_submission, source)
    second = grade_source(write_submission, source)
    assert first.model_dump(exclude={"durations"}) == second.model_dump(exclude={"durations"})
    assert "generate_sampling" in failing(first)


def test_hang_in_one_function_keeps_other_credit(write_submission: Any) -> None:
    feedback = grade_source(write_submission, hostile.hang_in_generate(), call_timeout=1.0)
    assert failing(feedback) == GENERATE_CHECKS
    issue = next(c for c in feedback.checks if c.id == "generate_output").issues[0]
    assert "did not finish within 1 s of CPU time in generate()" in issue.message
    assert feedback.score == MAX_SCORE - sum(c.points for c in CHECKS if c.id in GENERATE_CHECKS)


def test_hang_at_import_is_a_timeout_error(write_submission: Any) -> None:
    feedback = grade_source(write_submission, hostile.hang_at_import(), import_timeout=1.5)
    assert feedback.status == "error"
    assert feedback.error is not None and feedback.error.kind == "timeout"
    assert "within 1.5 s" in feedback.error.message
    assert feedback.score == 0 and feedback.gradable


def test_system_exit_is_contained(write_submission: Any) -> None:
    feedback = grade_source(write_submission, hostile.exit_in_cross_entropy())
    assert failing(feedback) == {"cross_entropy"}
    message = feedback.checks[[c.id for c in CHECKS].index("cross_entropy")].issues[0].message
    assert "stopped the process" in message


def test_os_exit_is_contained_and_prints_are_ignored(write_submission: Any) -> None:
    feedback = grade_source(write_submission, hostile.os_exit_in_generate(), policy=False)
    assert failing(feedback) == GENERATE_CHECKS
    issue = feedback.checks[[c.id for c in CHECKS].index("generate_output")].issues[0]
    assert "generate() stopped the process (the process ended with exit code 0)" in issue.message


def test_framework_patching_and_forged_output_change_nothing(write_submission: Any) -> None:
    feedback = grade_source(write_submission, hostile.patch_the_framework(), policy=False)
    assert feedback.status == "failed"
    assert "generate_output" in failing(feedback)


def test_garbled_answers_fail_only_their_check(write_submission: Any) -> None:
    feedback = grade_source(write_submission, hostile.garble_the_protocol(), policy=False)
    assert feedback.gradable, "a garbled answer is the submission's doing, not ours"
    assert failing(feedback) == GENERATE_CHECKS
    issue = feedback.checks[[c.id for c in CHECKS].index("generate_output")].issues[0]
    assert "garbled" in issue.message


def test_memory_blowup_is_contained(write_submission: Any) -> None:
    feedback = grade_source(
        write_submission, hostile.memory_bomb_in_cross_entropy(), worker_memory_mb=256
    )
    assert failing(feedback) == {"cross_entropy"}
    issue = feedback.checks[[c.id for c in CHECKS].index("cross_entropy")].issues[0]
    assert "ran out of memory in cross_entropy_loss()" in issue.message


def test_output_flood_changes_nothing(write_submission: Any) -> None:
    feedback = grade_source(write_submission, hostile.output_flood())
    assert feedback.status == "passed"
    assert feedback.student_output.bytes > 5_000_000
    assert len(feedback.model_dump_json()) < 20_000
    assert "PASSED" not in feedback.model_dump_json()


def test_exception_points_at_students_line(write_submission: Any) -> None:
    source = hostile.reference_with(
        "def cross_entropy_loss(logits, targets):\n    return logits[len(targets)][0]"
    )
    feedback = grade_source(write_submission, source)
    assert failing(feedback) == {"cross_entropy"}
    issue = feedback.checks[[c.id for c in CHECKS].index("cross_entropy")].issues[0]
    last_line = source.rstrip("\n").count("\n") + 1
    assert issue.line == last_line
    assert "IndexError" in issue.message and "logits[len(targets)][0]" in issue.message


def test_policy_violation_never_runs(write_submission: Any, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f"import os\nopen({str(marker)!r}, 'w').write('x')\n"
    feedback = grade_source(write_submission, source)
    assert feedback.status == "error" and feedback.error is not None
    assert feedback.error.kind == "policy" and feedback.error.line == 1
    assert not marker.exists()


@pytest.mark.parametrize(
    ("raw", "kind", "words"),
    [
        (b"", "policy", "empty"),
        (b"\x00\x01\x02binary", "policy", "binary"),
        ("x = 'caf\xe9'\n".encode("latin-1"), "policy", "UTF-8"),
        (b"def f(:\n    pass\n", "syntax", "Syntax error on line 1"),
        (b"x = 1\n" * 30_000, "policy", "limited to"),
    ],
)
def test_malformed_files_are_student_errors(
    write_submission: Any, raw: bytes, kind: str, words: str
) -> None:
    feedback = grade(write_submission(raw), process_settings())
    assert feedback.status == "error" and feedback.gradable
    assert feedback.error is not None and feedback.error.kind == kind
    assert words in feedback.error.message
    assert feedback.score == 0


# --- generate: the wrapped model answers locally and reports its calls -----------


def _reference_with(old: str, new: str) -> str:
    source = REFERENCE.read_text(encoding="utf-8")
    assert old in source
    return source.replace(old, new)


def test_uncropped_context_is_refused_with_the_reason(write_submission: Any) -> None:
    source = _reference_with("context = tokens[-model.max_seq_len :]", "context = tokens")
    feedback = grade(write_submission(source), process_settings())
    assert "generate_cropping" in failing(feedback)
    message = next(c for c in feedback.checks if c.id == "generate_cropping").issues[0].message
    assert "must be cropped to the last" in message, message


def test_catching_the_refusal_does_not_hide_it(write_submission: Any) -> None:
    """A generate that swallows every exception of the model's still fails cropping."""
    source = _reference_with(
        "        last = model(context)[-1]\n",
        "        try:\n"
        "            last = model(tokens)[-1]\n"
        "        except BaseException:\n"
        "            last = model(context)[-1]\n",
    )
    feedback = grade_source(write_submission, source, policy=False)  # BaseException: policy
    assert "generate_cropping" in failing(feedback)
    assert {"generate_output"} - failing(feedback), "the unwrapped model still generates"


def test_durations_account_for_every_phase() -> None:
    feedback = grade(REFERENCE, process_settings())
    spent = feedback.durations
    assert spent.worker_imports > 0 and spent.probes > 0 and spent.probes_cpu > 0
    assert spent.judge_startup > 0 and spent.checks > 0
    inside = spent.worker_imports + spent.probes + spent.checks + spent.report
    assert inside <= spent.judge + 0.01 and spent.judge <= spent.total
    assert spent.sandbox_start == spent.sandbox_teardown == 0, "no container in process mode"


def test_a_refused_file_spends_nothing_on_probes(write_submission: Any) -> None:
    spent = grade(write_submission("import os\n"), process_settings()).durations
    assert spent.probes == spent.worker_imports == spent.probes_cpu == 0


def _judge_in_a_fresh_interpreter(path: Path, cwd: Path) -> tuple[Feedback, bool]:
    """The judge's verdict on ``path``, and whether it imported pydantic to give it."""
    script = (
        "import sys\n"
        "from grader.judge.__main__ import main\n"
        "main(sys.argv[1:])\n"
        "print('pydantic' in sys.modules, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, "--submission", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )
    return parse_judge_output(proc.stdout), proc.stderr.splitlines()[-1] == "True"


def test_a_graded_file_never_imports_pydantic(tmp_path: Path) -> None:
    """pydantic's import is a quarter of the judge's: only the rare paths pay it."""
    for path in (REFERENCE, SKELETON):
        feedback, imported = _judge_in_a_fresh_interpreter(path, tmp_path)
        assert feedback.gradable and feedback.durations.probes > 0
        assert not imported, path
    broken = tmp_path / "minigpt.py"
    broken.write_text("def f(:\n")
    feedback, imported = _judge_in_a_fresh_interpreter(broken, tmp_path)
    assert feedback.error is not None and feedback.error.kind == "syntax" and imported


def test_the_judge_config_round_trips_and_refuses_what_it_does_not_know() -> None:
    config = JudgeConfig(
        call_timeout=2.5,
        worker_prefix=["setpriv", "--reuid=10002"],
        probe_key_file=Path("/opt/grader/probe.key"),
        sweep_processes=True,
    )
    assert JudgeConfig.from_json(config.to_json()) == config
    assert JudgeConfig.from_json("{}") == JudgeConfig()
    assert JudgeConfig.from_json('{"call_timeout": 3}').call_timeout == 3.0
    for bad in (
        '{"call_timeout": "3"}',
        '{"policy": 1}',
        '{"worker_memory_mb": true}',
        '{"worker_prefix": ["a", 2]}',
        '{"pack_dir": null}',
        '{"probe_key_file": 5}',
        '{"unknown": 1}',
        "[1]",
        "not json",
    ):
        with pytest.raises(ConfigError):
            JudgeConfig.from_json(bad)


def test_the_judge_line_survives_surrogates_and_refuses_non_finite_numbers() -> None:
    from grader.judge.runner import print_feedback
    from grader.judge.verdict import Outcome, verdict

    data = verdict([Outcome(check=c.id, title="t\udc80", passed=True) for c in CHECKS])
    out = io.StringIO()
    print_feedback({**data, "summary": "lone \udc80 surrogate"}, out)
    feedback = parse_judge_output(out.getvalue())
    assert feedback.status == "passed" and feedback.summary == "lone ? surrogate"
    out = io.StringIO()
    print_feedback({**data, "score": math.nan}, out)
    feedback = parse_judge_output(out.getvalue())
    assert not feedback.gradable and "not finite" in feedback.summary


ESCAPED_NAME = (
    REFERENCE.read_text()
    + '''

class _Hidden:
    """Not a Module: parameters() never finds what it holds."""

    def __init__(self, weights):
        self.weights = weights


_original_init = LayerNorm.__init__


def _init(self, dim, eps=1e-5):
    _original_init(self, dim, eps)
    self.__dict__["\\x1b[2J\\x1b]8;;http://x\\x07gain"] = _Hidden(self.gain)
    self.gain = [Value(1.0) for _ in range(dim)]
    self.__dict__["\\x1b[2J\\x1b]8;;http://x\\x07gain"].weights = self.gain
    self.gain = None
    self.forward = lambda x, _self=self: _forward(_self, x)


def _forward(self, x):
    inv_n = 1.0 / self.dim
    mean = Value.sum(x) * inv_n
    centred = [xi - mean for xi in x]
    inv_std = (Value.dot(centred, centred) * inv_n + self.eps) ** -0.5
    hidden = self.__dict__["\\x1b[2J\\x1b]8;;http://x\\x07gain"].weights
    return [c * inv_std * g + b for c, g, b in zip(centred, hidden, self.bias)]


LayerNorm.__init__ = _init
'''
)


def test_an_unlisted_weight_under_an_escape_sequence_reaches_the_panel_escaped(
    write_submission: Any,
) -> None:
    """A weight kept (through __dict__) under an attribute name of terminal escapes inside
    an object parameters() does not search is found by the forward's graph, and its path
    is shown as inert text (policy off: the sandbox and the judge must hold on their own)."""
    from grader.formats.panel import render_panel

    feedback = grade_source(write_submission, ESCAPED_NAME, policy=False)
    assert "parameters" in failing(feedback)
    check = next(c for c in feedback.checks if c.id == "parameters")
    message = check.issues[0].message
    assert "not in parameters()" in message and "\x1b" in message  # the path, as data
    panel = render_panel(feedback)
    assert "\x1b[2J" not in panel and "\x07" not in panel
    assert "\\x1b[2J" in panel, "the escape is shown, inert"
