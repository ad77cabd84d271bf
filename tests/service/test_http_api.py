"""The HTTP API of `grade serve` (embedded workers, process sandbox) over real HTTP,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from support import REFERENCE

from grader.cli import cli
from grader.models import Feedback
from grader.service.client import JobSuperseded, ServiceClient
from grader.service.db import Store
from grader.service.http.views import JobView

from .service_support import (
    GRADE,
    Service,
    assert_courses_take_turns,
    broken_source,
    client,
    free_port,
    slow_running_quick_queued,
    wait_done,
    wait_until,
)

pytestmark = pytest.mark.service

LIMIT = 20_000  # --max-source-bytes of these servers: the reference fits, a 413 is cheap


@pytest.fixture
def service(start_service: Callable[..., Service]) -> Service:
    return start_service("--workers", "2", "--max-source-bytes", str(LIMIT))


def test_submit_poll_and_list(service: Service) -> None:
    token = service.token()
    with client(service, token) as http:
        answer = http.post(
            "/v1/submissions",
            files={"file": ("Ada minigpt.py", broken_source("ada"))},
            data={"student": "ada"},
        )
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert answer.headers["location"] == job["url"]
        assert job["url"] == f"{service.url}/v1/submissions/{job['id']}"
        assert job["status"] in ("queued", "running") and job["student"] == "ada"
        done = wait_done(http, job["id"])
        feedback = Feedback.model_validate(done["feedback"])  # the `grade --format json` schema
        assert feedback.error is not None and feedback.error.kind == "syntax"
        assert feedback.submission == "Ada minigpt.py" and done["score"] == 0.0
        assert done["attempts"] == 1 and done["gradable"] is True

        raw = http.post(
            "/v1/submissions",
            content=broken_source("bob"),
            params={"student": "bob", "filename": "../../etc/passwd"},
            headers={"Content-Type": "application/octet-stream"},
        )
        assert raw.status_code == 202, raw.text
        assert raw.json()["submission"] == "passwd"  # folders stripped from the name
        wait_done(http, raw.json()["id"])

        listed = http.get("/v1/submissions", params={"student": "ada"}).json()
        assert [j["id"] for j in listed["items"]] == [job["id"]]
        assert listed["total"] == 1 and listed["next"] is None
        assert listed["items"][0]["feedback"] is None and listed["items"][0]["status"] == "done"
        assert listed["items"][0]["outcome"] == "failed"
        assert len(http.get("/v1/submissions").json()["items"]) == 2


def test_lists_say_the_total_and_link_the_next_page(service: Service) -> None:
    with client(service, service.token()) as http:
        ids = [
            http.post(
                "/v1/submissions", content=broken_source(f"p{i}"), params={"student": "ada"}
            ).json()["id"]
            for i in range(5)
        ]
        http.post("/v1/submissions", content=broken_source("other"), params={"student": "bob"})
        seen: list[str] = []
        url: str | None = "/v1/submissions?student=ada&limit=2"
        while url:
            page = http.get(url).json()
            assert page["total"] == 5 and page["limit"] == 2
            seen += [item["id"] for item in page["items"]]
            url = page["next"]
            if url:
                assert url.startswith(f"{service.url}/v1/submissions?") and "student=ada" in url
        assert seen == ids[::-1]  # newest first, each once, across 3 pages


def test_a_jobs_events_over_http_and_from_the_command_line(service: Service) -> None:
    with client(service, service.token()) as http:
        job = http.post("/v1/submissions", content=broken_source("ev")).json()
        wait_done(http, job["id"])
        events = http.get(f"/v1/submissions/{job['id']}/events").json()
        assert events["job"] == job["id"]
        assert [e["kind"] for e in events["items"]] == ["accepted", "claimed", "done"]
        claimed = events["items"][1]
        assert claimed["worker"].startswith("embedded@") and claimed["at"].endswith("+00:00")
        assert events["items"][2]["detail"] == "failed"
        assert http.get("/v1/submissions/nope/events").status_code == 404
    with client(service, service.token("cs202")) as other:
        assert other.get(f"/v1/submissions/{job['id']}/events").status_code == 404
    shown = subprocess.run([*GRADE, "serve", "events", job["id"], *service.data_args],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert f"job {job['id']} (cs101" in shown.stdout and "claimed" in shown.stdout
    as_json = subprocess.run(
        [*GRADE, "serve", *service.data_args, "events", job["id"], "--format", "json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    kinds = [e["kind"] for e in json.loads(as_json.stdout)["events"]]
    assert kinds == ["accepted", "claimed", "done"]
    missing = subprocess.run([*GRADE, "serve", "events", "nope", *service.data_args],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 2 and "No job" in missing.stderr


def test_idempotency(service: Service) -> None:
    token = service.token()
    with client(service, token) as http:
        key = {"Idempotency-Key": "attempt-1"}
        first = http.post("/v1/submissions", content=broken_source("a"), headers=key)
        again = http.post("/v1/submissions", content=broken_source("a"), headers=key)
        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json()["id"] == first.json()["id"]
        other = http.post("/v1/submissions", content=broken_source("b"), headers=key)
        assert other.status_code == 422 and "Idempotency-Key" in other.json()["error"]["message"]
        # No key: the same token, student and bytes under the same suite are one job.
        same_bytes = http.post("/v1/submissions", content=broken_source("a"))
        assert same_bytes.status_code == 200 and same_bytes.json()["id"] == first.json()["id"]
        new_student = http.post(
            "/v1/submissions", content=broken_source("a"), params={"student": "eve"}
        )
        assert new_student.status_code == 202 and new_student.json()["id"] != first.json()["id"]


def test_auth_and_course_isolation(service: Service) -> None:
    ours, theirs = service.token("cs101"), service.token("cs202")
    with client(service, ours) as http:
        job = http.post("/v1/submissions", content=broken_source("x")).json()
    with client(service, None) as anonymous:
        missing = anonymous.post("/v1/submissions", content=b"x = 1\n")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"]["status"] == 401
        assert anonymous.get(f"/v1/submissions/{job['id']}").status_code == 401
    with client(service, "mgt_not-a-token") as wrong:
        assert wrong.get("/v1/submissions").status_code == 401
    with client(service, theirs) as other:
        hidden = other.get(f"/v1/submissions/{job['id']}")
        assert hidden.status_code == 404 and "error" in hidden.json()
        assert other.get("/v1/submissions").json()["items"] == []
    # Tokens are stored hashed: the database never holds the token itself.
    if service.database.startswith("sqlite"):
        database = (service.data_dir / "service.db").read_bytes()
        assert ours.encode() not in database and theirs.encode() not in database


def test_a_revoked_or_expired_token_gets_401_at_once(service: Service) -> None:
    """Revoked by the command line in another process while the API remembers the token."""
    token, spare = service.token("cs303"), service.token("cs303")
    with client(service, token) as http:
        assert http.post("/v1/submissions", content=broken_source("r1")).status_code == 202
        assert http.get("/v1/submissions").status_code == 200
        listing = subprocess.run(
            [*GRADE, "serve", "token", "list", "cs303", *service.data_args, "--format", "json"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        rows = json.loads(listing.stdout)
        assert [row["state"] for row in rows] == ["active", "active"]
        assert rows[0]["prefix"] == token[:12]
        revoke = [*GRADE, "serve", "token", "revoke", "cs303", str(rows[0]["id"])]
        done = subprocess.run([*revoke, *service.data_args], capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0 and "1 token(s) revoked" in done.stderr, done.stderr
        refused = http.post("/v1/submissions", content=broken_source("r2"))
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert http.get("/v1/submissions").status_code == 401
    with client(service, spare) as http:  # the course's other token still works
        assert http.get("/v1/submissions").json()["total"] == 1
    made = subprocess.run(
        [*GRADE, "serve", "token", "create", "cs404", "--expires-in", "2s", *service.data_args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    short = made.stdout.strip()
    with client(service, short) as http:
        assert http.get("/v1/submissions").status_code == 200
        time.sleep(2.2)
        assert http.get("/v1/submissions").status_code == 401
        assert http.post("/v1/submissions", content=broken_source("late")).status_code == 401


def test_oversized_and_bad_requests(service: Service) -> None:
    token = service.token()
    with client(service, token) as http:
        raw = http.post("/v1/submissions", content=b"#" * (LIMIT + 1))
        assert raw.status_code == 413 and raw.headers["x-limit"] == str(LIMIT)
        assert str(LIMIT) in raw.json()["error"]["message"]
        form = http.post("/v1/submissions", files={"file": ("m.py", b"#" * (LIMIT + 1))})
        assert form.status_code == 413
        huge = http.post("/v1/submissions", content=b"#" * (LIMIT * 50))  # never read whole
        assert huge.status_code == 413
        exact = http.post("/v1/submissions", content=b"#" * LIMIT)
        assert exact.status_code == 202
        for answer in (
            http.post("/v1/submissions", files={"other": ("m.py", b"x")}),
            http.post(
                "/v1/submissions", content=b"x", params={"callback_url": "file:///etc/passwd"}
            ),
            http.post("/v1/submissions", content=b"x", params={"student": "a" * 300}),
            http.get("/v1/submissions", params={"limit": "many"}),
            http.get("/v1/submissions", params={"status": "lost"}),
        ):
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["message"]
        assert http.get("/v1/nothing").status_code == 404


def test_the_openapi_page_documents_the_submit_route(service: Service) -> None:
    """The accept route reads its parameters by hand; the page must still list them."""
    with client(service, None) as http:
        post = http.get("/openapi.json").json()["paths"]["/v1/submissions"]["post"]
    names = {(p["name"], p["in"]) for p in post["parameters"]}
    assert {("student", "query"), ("callback_url", "query"), ("filename", "query"),
            ("Idempotency-Key", "header"), ("Authorization", "header")} <= names  # fmt: skip
    assert set(post["requestBody"]["content"]) == {
        "multipart/form-data",
        "application/octet-stream",
    }
    assert {"200", "202", "401", "413", "422", "429"} <= set(post["responses"])
    assert post["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/JobView"
    )


def test_a_burst_gets_one_job_per_file_and_one_per_key(service: Service) -> None:
    """Concurrent requests share commits (group commit): each still gets its own answer."""
    token = service.token()
    hook = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: delivery only fails

    async def burst() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=30) as http:
            files = [
                http.post(
                    "/v1/submissions",
                    files={"file": (f"s{i}.py", broken_source(f"burst{i}"))},
                    data={"student": f"s{i}", "callback_url": hook},
                )
                for i in range(24)
            ]
            keyed = [
                http.post(
                    "/v1/submissions",
                    content=broken_source("keyed"),
                    headers={"Idempotency-Key": "deadline"},
                )
                for _ in range(8)
            ]
            return await asyncio.gather(*files, *keyed)

    answers = asyncio.run(burst())
    distinct, keyed = answers[:24], answers[24:]
    assert [a.status_code for a in distinct] == [202] * 24, [a.text for a in distinct]
    assert len({a.json()["id"] for a in distinct}) == 24
    assert sorted(a.status_code for a in keyed) == [200] * 7 + [202]
    assert len({a.json()["id"] for a in keyed}) == 1
    with client(service, token) as http:
        for i, answer in enumerate(distinct):
            body = answer.json()
            # The accept route builds its answer without pydantic: it must be a JobView.
            assert JobView.model_validate(body).model_dump(mode="json") == body
            assert answer.headers["location"] == body["url"]
            assert body["student"] == f"s{i}" and body["submission"] == f"s{i}.py"
            assert body["callback"] == {"url": hook, "status": "none", "attempts": 0}
            stored = http.get(f"/v1/submissions/{body['id']}").json()
            for field in ("id", "url", "student", "submission", "submission_sha256", "created_at"):
                assert stored[field] == body[field]
        for answer in distinct:
            done = wait_done(http, answer.json()["id"])
            assert done["gradable"] is True and done["feedback"]["error"]["kind"] == "syntax"


def test_callbacks_to_internal_addresses_are_refused_with_the_reason(service: Service) -> None:
    """The test service allows 127.0.0.1/32 only (for its receivers): the rest of loopback,
    IPv6 loopback, names resolving there, private and link-local addresses are refused."""
    port = free_port()
    with client(service, service.token()) as http:
        for url, reason in (
            (f"http://127.0.0.2:{port}/hook", "127.0.0.2 is a loopback address"),
            (f"http://[::1]:{port}/hook", "::1 is a loopback address"),
            (f"http://[::ffff:127.0.0.2]:{port}/", "a loopback address"),
            (f"http://2130706434:{port}/", "resolves to 127.0.0.2, which is a loopback address"),
            (f"http://10.1.2.3:{port}/", "a private address"),
            ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
            ("http://[fe80::1]/", "a link-local address"),
            ("http://224.0.0.1/", "a multicast address"),
            ("http://0.0.0.0/", "the unspecified address"),
        ):
            answer = http.post("/v1/submissions", content=b"x = 1\n", params={"callback_url": url})
            assert answer.status_code == 422, (url, answer.text)
            assert reason in answer.json()["error"]["message"], (url, answer.text)
            assert "--callback-allow" in answer.json()["error"]["message"]
        form = http.post(
            "/v1/submissions",
            files={"file": ("m.py", b"x = 1\n")},
            data={"callback_url": f"http://127.0.0.3:{port}/"},
        )
        assert form.status_code == 422
        allowed = http.post(
            "/v1/submissions",
            content=broken_source("ok"),
            params={"callback_url": f"http://127.0.0.1:{port}/hook"},
        )
        assert allowed.status_code == 202, allowed.text
        assert http.get("/v1/submissions").json()["total"] == 1  # nothing refused was stored


def test_a_course_at_its_limit_does_not_block_another(
    start_service: Callable[..., Service],
) -> None:
    service = start_service("--workers", "1", "--max-queue-per-course", "2")
    big, small = client(service, service.token("big")), client(service, service.token("small"))
    with big, small:
        slow = big.post("/v1/submissions", content=REFERENCE.read_bytes())
        assert slow.status_code == 202
        assert big.post("/v1/submissions", content=broken_source("b1")).status_code == 202
        full = big.post("/v1/submissions", content=broken_source("b2"))
        assert full.status_code == 429 and "course" in full.json()["error"]["message"]
        assert int(full.headers["retry-after"]) >= 1
        assert small.post("/v1/submissions", content=broken_source("s1")).status_code == 202


def test_a_burst_from_one_course_waits_its_turn(start_service: Callable[..., Service]) -> None:
    assert_courses_take_turns(start_service("--workers", "1"))


def test_a_newer_submission_supersedes_the_queued_one(
    start_service: Callable[..., Service], tmp_path: Path
) -> None:
    service = start_service("--workers", "1", "--supersede")
    with client(service, service.token()) as http:
        slow = http.post("/v1/submissions", content=REFERENCE.read_bytes(),
                         params={"student": "busy"}).json()  # fmt: skip
        wait_until(
            lambda: http.get(f"/v1/submissions/{slow['id']}").json()["status"] == "running",
            60,
            "the first job to run",
        )
        old = http.post("/v1/submissions", content=broken_source("v1"), params={"student": "ada"})
        new = http.post("/v1/submissions", content=broken_source("v2"), params={"student": "ada"})
        replaced = http.get(f"/v1/submissions/{old.json()['id']}").json()
        assert replaced["status"] == "superseded" and replaced["outcome"] == "superseded"
        assert replaced["superseded_by"] == new.json()["id"] and replaced["feedback"] is None
        waiting = ServiceClient(service.url, service.token())  # what `grade submit --wait` does
        with waiting, pytest.raises(JobSuperseded) as superseded:
            waiting.wait(replaced["id"], time.monotonic() + 30)
        assert superseded.value.exit_code == 3 and new.json()["id"] in superseded.value.message
        assert wait_done(http, new.json()["id"], deadline=120)["outcome"] == "failed"
        assert wait_done(http, slow["id"], deadline=120)["outcome"] == "passed"
        listed = http.get("/v1/submissions", params={"status": "superseded"}).json()
        assert [item["id"] for item in listed["items"]] == [old.json()["id"]]
    waited = CliRunner().invoke(
        cli,
        ["submit", "--server", service.url, "--token", service.token(), "--wait",
         "--student", "eve", str(_file(tmp_path, "e1", broken_source("e1")))],
    )  # fmt: skip
    assert waited.exit_code == 1  # graded: the syntax error


def _file(folder: Path, name: str, content: bytes) -> Path:
    path = folder / f"{name}.py"
    path.write_bytes(content)
    return path


def test_queue_full_is_429_with_retry_after(start_service: Callable[..., Service]) -> None:
    service = start_service("--workers", "1", "--max-queue", "1")
    with client(service, service.token()) as http:
        slow = http.post("/v1/submissions", content=REFERENCE.read_bytes())
        assert slow.status_code == 202
        full = http.post("/v1/submissions", content=broken_source("next"))
        assert full.status_code == 429
        assert int(full.headers["retry-after"]) >= 1
        assert "full" in full.json()["error"]["message"]
        wait_done(http, slow.json()["id"])
        assert http.post("/v1/submissions", content=broken_source("next")).status_code == 202


def test_health_and_metrics(service: Service) -> None:
    with client(service, service.token()) as http:
        health = http.get("/healthz").json()
        assert health["status"] == "ok" and health["mode"] == "embedded"
        wait_done(http, http.post("/v1/submissions", content=broken_source("m")).json()["id"])
        text = http.get("/metrics").text
    assert 'grader_jobs{course="cs101",status="done"} 1.0' in text
    assert 'grader_outcomes_total{course="cs101",outcome="failed"} 1.0' in text
    assert "grader_queue_depth 0.0" in text
    assert 'grader_queue_wait_seconds_count{course="cs101"} 1.0' in text
    assert 'grader_queue_wait_seconds_bucket{course="cs101",le="+Inf"} 1.0' in text
    assert "grader_grading_seconds_count 1.0" in text
    assert "grader_infrastructure_errors_total 0.0" in text


def test_grade_submit_prints_and_exits_like_grade(service: Service, tmp_path: Path) -> None:
    token = service.token()
    broken = tmp_path / "minigpt.py"
    broken.write_bytes(broken_source("cli"))
    runner = CliRunner()
    base = ["submit", "--server", service.url, "--token", token]
    panel = runner.invoke(cli, [*base, str(broken), "--wait"])
    assert panel.exit_code == 1, panel.output
    assert "Syntax error" in panel.output and "Points 0/100" in panel.output
    as_json = runner.invoke(cli, [*base, str(broken), "--wait", "--format", "json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["error"]["kind"] == "syntax"
    queued = runner.invoke(cli, [*base, str(REFERENCE)])
    assert queued.exit_code == 0 and queued.stdout.startswith(f"{service.url}/v1/submissions/")
    passed = runner.invoke(cli, [*base, str(REFERENCE), "--wait", "--format", "json"])
    assert passed.exit_code == 0, passed.output
    assert json.loads(passed.stdout)["score"] == 100
    big = tmp_path / "big.py"
    big.write_bytes(b"#" * (LIMIT + 10))
    too_big = runner.invoke(cli, [*base, str(big), "--wait", "--max-source-bytes", "90000"])
    assert too_big.exit_code == 1 and "20,010 bytes" in too_big.output  # as `grade` says it
    wrong = runner.invoke(cli, ["submit", "--server", service.url, "--token", "x", str(broken)])
    assert wrong.exit_code == 2 and "401" in wrong.output
    down = f"http://127.0.0.1:{free_port()}"
    unreachable = runner.invoke(
        cli, ["submit", "--server", down, "--token", token, str(broken), "--timeout", "2"]
    )
    assert unreachable.exit_code == 3 and "did not answer" in unreachable.output
    assert runner.invoke(cli, [*base, str(tmp_path / "missing.py")]).exit_code == 2


def test_sigterm_requeues_running_jobs_and_a_restart_resumes(
    start_service: Callable[..., Service],
) -> None:
    # The one-process layout (test_api_processes.py has the same with an API process).
    service = start_service("--workers", "1", "--api-processes", "0")
    with client(service, service.token()) as http:
        slow, quick = slow_running_quick_queued(http, "q")
    # uvicorn re-raises the signal once its shutdown is complete.
    assert service.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert service.proc is not None and "shutdown complete" in service.proc.tail()
    store = Store(service.database)
    states = {j.id: j.status for j in store.reads.jobs("cs101", None, None, 10, 0)[0]}
    assert states[slow["id"]] == "queued"  # given back, not lost, not half-recorded
    assert any(e.kind == "released" for e in store.reads.events(slow["id"]) or [])
    store.close()
    service.start()
    with client(service, service.token()) as http:
        for job in [slow, *quick]:
            assert wait_done(http, job["id"])["gradable"] is True
        assert http.get(f"/v1/submissions/{slow['id']}").json()["score"] == 100


def test_a_wrong_database_url_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["serve", "token", "create", "c", "--database", "nope://"])
    assert result.exit_code == 2 and "database" in result.output
