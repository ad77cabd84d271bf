"""Embedded mode end to end through Docker: `grade serve` + `grade submit --wait`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support import REFERENCE

from grader.sandbox.docker_backend import leftover_containers

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
            # A worker that keeps grading starts its next container ahead of need.
            source = REFERENCE.read_bytes() + b"\n# another student\n"
            job = http.post("/v1/submissions", content=source).json()
            assert wait_done(http, job["id"], deadline=300)["feedback"]["score"] == 100
        assert wait_for(lambda: len(running_graders(docker_client)) >= 1), (
            "no container was started ahead of the next job"
        )
    finally:
        service.stop()
    assert wait_for(lambda: leftover_containers(docker_client) == []), (
        "the service's spare container outlived it"
    )


def running_graders(docker_client: Any) -> list[Any]:
    return [c for c in leftover_containers(docker_client) if c.status == "running"]


def wait_for(condition: Any, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
