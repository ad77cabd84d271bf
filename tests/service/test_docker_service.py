"""Embedded mode end to end through Docker: `grade serve` + `grade submit --wait`; the
containers' labels, and what a restart after kill -9 removes."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support import REFERENCE

from grader.sandbox.docker_backend import LABEL_INSTANCE, LABEL_JOB, LABEL_RUN, leftover_containers
from grader.service.containers import remove_dead_owners_containers
from grader.service.identity import Owner, process_start
from grader.settings import DEFAULT_IMAGE

from .service_support import (
    REPO,
    Service,
    broken_source,
    client,
    wait_done,
    wait_until,
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


def test_only_dead_owners_containers_are_removed(docker_client: Any) -> None:
    """A starting service removes the containers of this host's processes that are gone:
    not a live process's, not another host's, not those of `grade batch` (no owner)."""
    here = Owner.current()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    owners = {
        "dead": Owner(here.host, here.boot, child.pid, 7),
        "live": here,
        "far": Owner("another-host", here.boot, child.pid, 7),
    }
    made = {
        name: docker_client.containers.create(
            DEFAULT_IMAGE, ["true"], labels={LABEL_RUN: "1", LABEL_INSTANCE: owner.label()}
        )
        for name, owner in owners.items()
    }
    made["batch"] = docker_client.containers.create(
        DEFAULT_IMAGE, ["true"], labels={LABEL_RUN: "1"}
    )
    try:
        assert remove_dead_owners_containers(docker_client) >= 1
        left = {c.id for c in docker_client.containers.list(all=True)}
        assert made["dead"].id not in left
        assert {made[n].id for n in ("live", "far", "batch")} <= left
    finally:
        for container in made.values():
            with contextlib.suppress(Exception):  # removed by the code under test
                container.remove(force=True)


def test_a_restart_after_kill_9_removes_the_dead_services_containers(
    docker_client: Any, tmp_path: Path
) -> None:
    """The grading container carries the service's instance and the job; after kill -9
    it outlives the service; the restarted service removes it and grades the job again."""
    service = Service(tmp_path, "--workers", "1", "--lease", "600", sandbox="docker").start()
    try:
        assert service.proc is not None
        owner = Owner(Owner.current().host, Owner.current().boot, service.proc.pid,
                      process_start(service.proc.pid) or 0)  # fmt: skip
        with client(service, service.token()) as http:
            job = http.post("/v1/submissions", content=REFERENCE.read_bytes()).json()

            def grading() -> list[Any]:
                found = docker_client.containers.list(filters={"label": f"{LABEL_JOB}={job['id']}"})
                return list(found)

            containers = wait_until(grading, 120, "the job's container")
            assert containers[0].labels[LABEL_INSTANCE] == owner.label()
            service.kill()
            left = docker_client.containers.list(
                all=True, filters={"label": f"{LABEL_INSTANCE}={owner.label()}"}
            )
            assert any(c.id == containers[0].id for c in left)  # nothing removed it
            service.start()
            done = wait_done(http, job["id"], deadline=300)
        assert done["score"] == 100
        gone = docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_INSTANCE}={owner.label()}"}
        )
        assert gone == []
        store = service.store()
        kinds = [e.kind for e in store.reads.events(job["id"]) or []]
        store.close()
        assert "owner-gone-requeued" in kinds and kinds.count("done") == 1
    finally:
        service.stop()
