"""LTI 1.3 end to end: a real platform (lti1p3platform, tests/service/lti_platform.py) on
127.0.0.1 launches the tool, a student hands in on the page it opens, and the score
reaches the platform's gradebook through AGS; what must be refused is refused.

The platform initiates the login, the tool redirects to the platform's auth
endpoint, the platform posts the signed id_token to the tool's launch URL: the
browser (or httpx, holding the tool's state cookie) goes through every step.
Every test runs on SQLite and on PostgreSQL (``start_service``).
"""

from __future__ import annotations

import base64
import html
import json
import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from click.testing import CliRunner
from solutions.mutations import MUTATIONS, apply, reference_source
from sqlalchemy import func, select
from support import free_port

from grader.cli import cli
from grader.service.db.page_tables import LtiLaunch

from .lti_platform import Platform, new_private_key
from .service_support import (
    SYNTAX_ERROR,
    Service,
    console_errors,
    screenshot,
    start_worker,
    wait_until,
)

pytestmark = pytest.mark.service


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def register(service: Service, platform: Platform, course: str = "cs101") -> int:
    code, out, err = run(
        "serve", *service.data_args, "lti", "add", "--issuer", platform.issuer,
        "--client-id", platform.client_id, "--deployment-id", platform.deployment_id,
        "--auth-login-url", f"{platform.url}/auth", "--auth-token-url", f"{platform.url}/token",
        "--key-set-url", f"{platform.url}/jwks", "--course", course, "--base-url", service.url,
    )  # fmt: skip
    assert code == 0, err
    assert f"{service.url}/lti/jwks" in err and "scope/score" in err
    return int(out)


@pytest.fixture
def platforms() -> Iterator[list[Platform]]:
    started: list[Platform] = []
    yield started
    for platform in started:
        platform.stop()


@pytest.fixture
def lti(start_service: Any, platforms: list[Platform]) -> Any:
    """``lti(*flags)``: a service with those flags, a platform registered with it."""

    def make(*flags: str) -> tuple[Service, Platform]:
        service = start_service(*flags)
        platform = Platform(free_port(), service.url).start()
        platforms.append(platform)
        register(service, platform)
        return service, platform

    return make


# --- the launch, step by step over HTTP ----------------------------------------------------


def login(http: httpx.Client, platform: Platform, user: str = "ada-sub") -> httpx.Response:
    """The platform initiates the login; the tool's answer (a redirect to the platform)."""
    start = http.get(platform.launch_url(user))
    assert start.status_code == 302 and "/lti/login?" in start.headers["location"]
    return http.get(start.headers["location"])


def authorize(http: httpx.Client, location: str) -> tuple[str, dict[str, str]]:
    """The platform's answer to the tool's auth request: the form that posts the id_token."""
    form = http.get(location)
    assert form.status_code == 200, form.text
    action = re.search(r'action="([^"]+)"', form.text)
    assert action is not None
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.text))
    return html.unescape(action.group(1)), {k: html.unescape(v) for k, v in fields.items()}


def launch(http: httpx.Client, platform: Platform, user: str = "ada-sub") -> httpx.Response:
    answer = login(http, platform, user)
    assert answer.status_code == 302, answer.text
    action, fields = authorize(http, answer.headers["location"])
    return http.post(action, data=fields)


def refused(answer: httpx.Response, why: str) -> None:
    assert answer.status_code == 403, answer.text
    assert why in html.unescape(answer.text), answer.text
    assert "/s/" not in answer.headers.get("location", "")


def launches(service: Service) -> int:
    store = service.store()
    try:
        with store.db.read_session() as session:
            return int(session.scalar(select(func.count()).select_from(LtiLaunch)) or 0)
    finally:
        store.close()


def events(service: Service, job_id: str) -> list[str]:
    store = service.store()
    try:
        return [e.kind for e in store.reads.events(job_id) or []]
    finally:
        store.close()


def hand_in(http: httpx.Client, page: str, source: bytes) -> str:
    """Submit on the page like its form does; the job page's URL."""
    form = http.get(page)
    attempt = re.search(r'name="attempt" value="(\w+)"', form.text)
    assert attempt is not None, form.text
    answer = http.post(page, files={"file": ("minigpt.py", source)},
                       data={"attempt": attempt.group(1)})  # fmt: skip
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def resign(token: str, key: str, **changes: Any) -> str:
    """The id_token's claims (with ``changes``) signed with ``key`` under the same kid."""
    header = jwt.get_unverified_header(token)
    claims = {**jwt.decode(token, options={"verify_signature": False}), **changes}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": header["kid"]})


# --- tests ---------------------------------------------------------------------------------


def test_a_launched_student_hands_in_and_the_score_reaches_the_gradebook(
    lti: Any, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    service, platform = lti()
    bug = next(m for m in MUTATIONS if m.id == "layernorm_sample_variance")
    upload = tmp_path / "minigpt.py"
    upload.write_text(apply(bug, reference_source()))
    driver = browser()
    driver.get(platform.launch_url("ada-sub", name="Ada Lovelace"))
    wait_until(lambda: "/s/" in driver.current_url, 30, "the launch to open the page")
    who = driver.find_element(By.CLASS_NAME, "who").text
    assert "Ada Lovelace" in who and "opened from your course" in who
    assert "gradebook" in driver.find_element(By.CLASS_NAME, "note").text
    screenshot(driver, "lti-submit")
    driver.find_element(By.NAME, "file").send_keys(str(upload))
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 90, 0.5).until(lambda d: d.find_elements(By.CLASS_NAME, "verdict"))
    verdict = driver.find_element(By.CLASS_NAME, "verdict").text
    shown = re.search(r"Score (\d+)/100", verdict)
    assert shown and 0 < int(shown.group(1)) < 100, verdict
    WebDriverWait(driver, 60, 0.5).until(
        lambda d: "was sent to your course" in d.find_element(By.TAG_NAME, "main").text
    )
    assert console_errors(driver) == []
    screenshot(driver, "lti-feedback")
    assert len(platform.scores) == 1
    score = platform.scores[0]
    assert score["lineitem"] == "1" and score["userId"] == "ada-sub"
    assert score["scoreGiven"] == float(shown.group(1)) and score["scoreMaximum"] == 100.0
    assert (score["activityProgress"], score["gradingProgress"]) == ("Completed", "FullyGraded")
    job_id = driver.current_url.rsplit("/", 1)[1]
    assert events(service, job_id)[-1] == "lti-score-posted"
    # The tool's key pair: in the data folder, owner only; its public half is the JWKS.
    key_file = service.data_dir / "lti-tool-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    jwks = httpx.get(f"{service.url}/lti/jwks").json()
    code, printed, _ = run("serve", "--data-dir", str(service.data_dir), "lti", "key")
    assert code == 0 and json.loads(printed) == jwks and "d" not in jwks["keys"][0]


def test_what_must_be_refused_is_refused(lti: Any) -> None:
    service, platform = lti()
    with httpx.Client(timeout=30) as http:
        good = launch(http, platform)
        assert good.status_code == 303 and "/s/" in good.headers["location"]

        # A replayed id_token (its state cookie is still there): the nonce was used.
        answer = login(http, platform)
        action, fields = authorize(http, answer.headers["location"])
        assert http.post(action, data=fields).status_code == 303
        refused(http.post(action, data=fields), "Invalid Nonce")

        # A tampered id_token: another user in the claims, the platform's signature kept.
        action, fields = authorize(http, login(http, platform).headers["location"])
        head, body, signature = fields["id_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        claims["sub"] = "mallory"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        refused(http.post(action, data={**fields, "id_token": f"{head}.{forged}.{signature}"}),
                "Can't decode id_token")  # fmt: skip

        # Signed with a key that is not the platform's (same kid).
        action, fields = authorize(http, login(http, platform).headers["location"])
        mine = resign(fields["id_token"], new_private_key())
        refused(http.post(action, data={**fields, "id_token": mine}), "Can't decode id_token")

        # A state the tool never set (or a browser without the tool's cookie).
        action, fields = authorize(http, login(http, platform).headers["location"])
        refused(http.post(action, data={**fields, "state": "state-forged"}), "State not found")
        with httpx.Client(timeout=30) as stranger:
            refused(stranger.post(action, data=fields), "State not found")

        # A nonce the tool never issued, signed by the real platform.
        answer = login(http, platform)
        location = re.sub(r"nonce=[^&]+", f"nonce={uuid.uuid4().hex}", answer.headers["location"])
        action, fields = authorize(http, location)
        refused(http.post(action, data=fields), "Invalid Nonce")

        # Not what was registered: another issuer, another client, another deployment.
        platform.issuer = f"{platform.url}/elsewhere"
        refused(login(http, platform), "Could not find registration")
        platform.issuer, platform.client_id = platform.url, "another-client"
        refused(login(http, platform), "Could not find registration")
        platform.client_id, platform.deployment_id = "grader-client", "deployment-2"
        refused(launch(http, platform), 'deployment ID "deployment-2" is not recognised')
        platform.deployment_id = "deployment-1"
        assert launch(http, platform).status_code == 303
    assert launches(service) == 3  # only the three good launches were recorded
    assert platform.scores == []


def test_a_platform_that_is_down_gets_the_score_when_it_is_back(lti: Any) -> None:
    """Passback is durable: retried with backoff (events say each attempt), posted once."""
    service, platform = lti("--callback-backoff", "0.2", "--callback-retries", "10")
    platform.scores_down = True
    with httpx.Client(timeout=30) as http:
        page = launch(http, platform).headers["location"]
        job = hand_in(http, page, SYNTAX_ERROR)
        job_id = job.rsplit("/", 1)[1]
        wait_until(lambda: events(service, job_id).count("lti-score-failed") >= 2, 60,
                   "two failed attempts")  # fmt: skip
        shown = http.get(job).text
        assert "Sending your score" in html.unescape(shown) and 'http-equiv="refresh"' in shown
        assert platform.scores == []
        platform.scores_down = False
        wait_until(lambda: "lti-score-posted" in events(service, job_id), 60, "the score")
        assert "was sent to your course" in html.unescape(http.get(job).text)
    assert [s["scoreGiven"] for s in platform.scores] == [0.0]
    kinds = events(service, job_id)
    assert kinds.count("lti-score-posted") == 1 and kinds.index("done") < kinds.index(
        "lti-score-failed"
    )


def test_a_not_gradable_grading_posts_no_score(lti: Any, redis_url: str, browser: Any) -> None:
    """An infrastructure failure (a worker whose sandbox image is missing) is not a zero:
    nothing is posted, and the page says the grading could not be done."""
    from selenium.webdriver.common.by import By

    queue = f"q-{uuid.uuid4().hex[:8]}"
    service, platform = lti("--broker", redis_url, "--queue", queue, "--sandbox", "docker",
                            "--image", "minigpt-grader:does-not-exist")  # fmt: skip
    worker = start_worker(service, redis_url, queue, "w1", "--retries", "0")
    try:
        with httpx.Client(timeout=30) as http:
            page = launch(http, platform).headers["location"]
            job = hand_in(http, page, b"x = 1\n")
            job_id = job.rsplit("/", 1)[1]
            wait_until(lambda: "lti-score-skipped" in events(service, job_id), 60,
                       "the grade to be skipped")  # fmt: skip
            shown = html.unescape(http.get(job).text)
    finally:
        worker.stop()
    assert "could not be graded" in shown and "not in your file" in shown
    assert "Nothing was recorded in your course's gradebook" in shown
    assert "No score was sent" in shown and 'http-equiv="refresh"' not in shown
    assert platform.scores == [] and platform.score_requests == 0
    driver = browser()  # the page a student sees then, as a browser shows it
    driver.get(job)
    assert "could not be graded" in driver.find_element(By.CLASS_NAME, "verdict").text
    assert console_errors(driver) == []
    screenshot(driver, "lti-not-gradable")
    kinds = events(service, job_id)
    assert "lti-score-posted" not in kinds and "lti-score-failed" not in kinds


def test_lti_registrations_are_added_listed_and_removed(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    flags = ["--issuer", "https://canvas.instructure.com", "--client-id", "10000000000042",
             "--deployment-id", "1:abc", "--deployment-id", "2:def",
             "--auth-login-url", "https://sso.canvaslms.com/api/lti/authorize_redirect",
             "--auth-token-url", "https://sso.canvaslms.com/login/oauth2/token",
             "--key-set-url", "https://sso.canvaslms.com/api/lti/security/jwks",
             "--course", "cs101"]  # fmt: skip
    code, out, _ = run("serve", *data, "lti", "add", *flags)
    assert code == 0 and out.strip() == "1"
    assert run("serve", *data, "lti", "add", *flags)[0] == 2  # the same issuer and client
    plain = [f if not f.startswith("https://sso") else f.replace("https", "http") for f in flags]
    assert run("serve", *data, "lti", "add", *plain)[0] == 2  # http only on this machine
    code, out, _ = run("serve", *data, "lti", "list", "--format", "json")
    (row,) = json.loads(out)
    assert row["course"] == "cs101" and row["deployment_ids"] == ["1:abc", "2:def"]
    code, table, _ = run("serve", *data, "lti", "list")
    assert "canvas.instructure.com" in table and "1:abc, 2:def" in table
    code, _, err = run("serve", *data, "lti", "remove", "1")
    assert code == 0 and "Removed registration 1" in err
    assert run("serve", *data, "lti", "remove", "1")[0] == 2
    assert json.loads(run("serve", *data, "lti", "list", "--format", "json")[1]) == []
    code, pem, _ = run("serve", *data, "lti", "key", "--format", "pem")
    assert code == 0 and pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert stat.S_IMODE((tmp_path / "lti-tool-key.pem").stat().st_mode) == 0o600


def test_the_watcher_sends_only_scores(tmp_path: Path) -> None:
    """Jobs that ended without a score (not gradable, superseded) post nothing; one with a
    score goes to the sender (here its launch names a platform that was removed: it fails
    at once, said in its events, rather than retrying)."""
    from grader.service.config import WorkerConfig
    from grader.service.db import NewJob, Owner, QueueLimits, Store
    from grader.service.lti.keys import load_or_create
    from grader.service.lti.passback import GradeSender, GradeWatcher

    store = Store(f"sqlite:///{tmp_path / 'service.db'}")
    site = "https://platform.example"
    record = store.lti.add(issuer=site, client_id="c", deployment_ids=["d"],
                           auth_login_url=f"{site}/a", auth_token_url=f"{site}/t",
                           key_set_url=f"{site}/k", course="cs101")  # fmt: skip
    launch = store.lti.record_launch(record, "ada", None, "rl", {"scope": [], "lineitem": "x"})
    limits = QueueLimits(supersede=True)

    def submit(source: bytes) -> str:
        new = NewJob(course="cs101", token_id=store.pages.token_id("cs101"), student="ada",
                     filename="minigpt.py", source=source, settings_json="{}",
                     grading_key="k")  # fmt: skip
        job_id = store.jobs.create_one(new, limits)[0].id
        store.lti.expect_grade(job_id, launch.id)
        return job_id

    def grade(outcome: str, score: float | None) -> None:
        job = store.jobs.claim_next("w", Owner.current(), 30)
        assert job is not None
        body = {"status": "failed" if score else "error", "summary": "s",
                "gradable": score is not None, "score": score, "max_score": 100.0}  # fmt: skip
        store.jobs.finish(job.id, "w", json.dumps(body), outcome, 0.1)

    superseded = submit(b"a = 1\n")
    broken = submit(b"b = 1\n")  # replaces the first, still queued
    grade("not-gradable", None)
    scored = submit(b"c = 1\n")
    grade("failed", 50.0)
    assert store.reads.job(superseded).status == "superseded"  # type: ignore[union-attr]
    config = WorkerConfig(callback_retries=3, callback_backoff=0.01)
    sender = GradeSender(store, lambda: load_or_create(tmp_path), config)
    store.lti.remove(record.id)
    try:
        assert GradeWatcher(store, sender).watch() == [scored]
        wait_until(lambda: store.lti.grades_of(scored)[0].status == "failed", 20, "the grade")
    finally:
        sender.stop()
    assert [g.status for g in store.lti.grades_of(superseded)] == ["skipped"]
    assert [g.status for g in store.lti.grades_of(broken)] == ["skipped"]
    assert store.lti.grades_of(scored)[0].attempts == 1  # not retried: it cannot succeed
    assert "lti-score-skipped" in events_of(store, broken)
    assert "lti-score-failed" in events_of(store, scored)
    assert GradeWatcher(store, sender).watch() == []  # nothing twice
    store.close()


def events_of(store: Any, job_id: str) -> list[str]:
    return [e.kind for e in store.reads.events(job_id) or []]
