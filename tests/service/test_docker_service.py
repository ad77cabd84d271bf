"""Embedded mode end to end through Docker: `grade serve` + `grade submit --wait`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import REFERENCE

from .service_support import (
    REPO,
    Service,
    broken_source,
    client,
    wait_done,
)

pytestmark = [pytest.mark.docker, pytest.mark.service]


def test_embedded_service_grades_in_docker(docker_client: Any, tmp_path: Path) -> None:
    service = Service(tmp_path, "--workers", "2", sandbox="docker").start()
    try:
        token = service.token()
        submit = [sys.executable, "-m", "grader", "submit", str(REFERENCE), "--server",
                  service.url, "--token", token, "--wait", "--format", "json"]  # fmt: skip
        result = subprocess.run(
            submit, cwd=REPO, capture_output=True, timeout=300, env=dict(os.environ)
        )
        assert result.returncode == 0, result.stderr.decode()
        feedback = json.loads(result.stdout)
        assert feedback["score"] == 100 and feedback["sandbox"] == "docker"
        assert feedback["isolated"] is True
        with client(service, token) as http:
            job = http.post("/v1/submissions", content=broken_source("docker")).json()
            assert wait_done(http, job["id"], deadline=120)["feedback"]["error"]["kind"] == "syntax"
    finally:
        service.stop()
