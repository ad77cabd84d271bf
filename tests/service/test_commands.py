"""The operator's commands through click's runner: tokens, secrets, events, flags."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from grader.cli import cli
from grader.service.config import ServiceConfig, WorkerConfig
from grader.service.db import Store


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_tokens_are_listed_revoked_and_rotated(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    code, first, err = run("serve", "token", "create", "cs101", *data)
    assert code == 0 and first.strip().startswith("mgt_") and "whsec_" in err
    code, second, _ = run("serve", *data, "token", "create", "cs101", "--expires-in", "30d")
    assert code == 0
    code, out, _ = run("serve", "token", "list", "cs101", *data, "--format", "json")
    rows = json.loads(out)
    assert [row["state"] for row in rows] == ["active", "active"]
    assert (
        rows[0]["expires_at"] is None and rows[1]["expires_at"] > rows[1]["created_at"] + 86400 * 29
    )
    assert rows[0]["prefix"] == first.strip()[:12]
    code, out, err = run("serve", "token", "revoke", "cs101", str(rows[0]["id"]), *data)
    assert code == 0 and "1 token(s) revoked" in err
    code, table, _ = run("serve", "token", "list", "cs101", *data)
    assert "revoked" in table and "active" in table and first.strip() not in table
    code, new, err = run("serve", "token", "rotate", "cs101", "--overlap", "0", *data)
    assert code == 0 and new.strip().startswith("mgt_")
    store = Store(f"sqlite:///{tmp_path / 'service.db'}")
    try:
        assert store.tokens.find(second.strip()) is None  # ended by the rotation
        assert store.tokens.find(new.strip()) is not None
    finally:
        store.close()
    assert run("serve", "token", "revoke", "cs101", *data)[0] == 2  # ids or --all
    assert run("serve", "token", "revoke", "nope", "--all", *data)[0] == 2
    assert run("serve", "token", "rotate", "nope", *data)[0] == 2
    assert run("serve", "token", "create", "c", "--expires-in", "soon", *data)[0] == 2


def test_secret_rotation_and_events(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    run("serve", "token", "create", "cs101", *data)
    code, secret, _ = run("serve", "secret", "rotate", "cs101", "--overlap", "2h", *data)
    assert code == 0 and secret.strip().startswith("whsec_")
    store = Store(f"sqlite:///{tmp_path / 'service.db'}")
    try:
        assert store.tokens.secrets("cs101")[0] == secret.strip()
        assert len(store.tokens.secrets("cs101")) == 2
    finally:
        store.close()
    code, _, err = run("serve", "secret", "rotate", "nope", *data)
    assert code == 2 and "No course 'nope'" in err
    code, _, err = run("serve", "events", "no-such-job", *data)
    assert code == 2 and "No job" in err


def test_flags_come_from_the_config_models() -> None:
    """Each knob's default and range is its field's: one place to change them."""
    code, out, _ = run("serve", "--help")
    assert code == 0
    assert f"[default: {ServiceConfig().max_queue};" in " ".join(out.split())
    assert f"[default: {WorkerConfig().lease_seconds};" in " ".join(out.split())
    assert run("serve", "--max-queue", "0")[0] == 2  # ge=1 from the field
    assert run("serve", "--nice", "20")[0] == 2  # le=19
    code, _, err = run("serve", "--callback-allow", "not-a-range")
    assert code == 2 and "not an address range" in err
