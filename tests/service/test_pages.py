"""The student pages without an LMS: signed links (codes), ``grade serve links``, and a
student handing in through a link in a real browser with JavaScript off.

Every test that starts a service runs on SQLite and on PostgreSQL (``start_service``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from click.testing import CliRunner
from solutions.mutations import MUTATIONS, apply, reference_source

from grader.cli import cli
from grader.models import CheckResult, ErrorInfo, Feedback, Issue
from grader.service.codes import InvalidCode, PageCode, make_code, read_code
from grader.service.db import Store
from grader.service.http.page_views import feedback_values, html
from grader.service.page_commands import roster_ids

from .service_support import (
    HOG,
    Service,
    client,
    console_errors,
    screenshot,
    wait_until,
)

pytestmark = pytest.mark.service

GUESS = "a guessed key, as long as a real one is: 32+ bytes"
HOSTILE = '"><img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


@pytest.fixture
def store(tmp_path: Path) -> Any:
    made = Store(f"sqlite:///{tmp_path / 'service.db'}")
    yield made
    made.close()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


# --- codes and commands ----------------------------------------------------------------


def test_a_code_names_its_student_and_nothing_else_passes(store: Store) -> None:
    code = make_code(store, PageCode("cs101", "ada"))
    assert read_code(store, code) == PageCode("cs101", "ada")
    claims = jwt.decode(code, options={"verify_signature": False})
    forged = jwt.encode({**claims, "s": "bob"}, GUESS, algorithm="HS256")
    changed = code.replace(
        code.split(".")[1], jwt.encode({**claims, "s": "bob"}, GUESS).split(".")[1]
    )
    other_course = make_code(store, PageCode("cs102", "ada"))
    moved = jwt.encode({**jwt.decode(other_course, options={"verify_signature": False}),
                        "c": "cs101"}, GUESS)  # fmt: skip
    for bad in (forged, changed, moved, code + "x", "not-a-code", "a" * 5000):
        with pytest.raises(InvalidCode, match="not valid"):
            read_code(store, bad)
    expired = make_code(store, PageCode("cs101", "ada", expires_at=time.time() - 1))
    with pytest.raises(InvalidCode, match="expired"):
        read_code(store, expired)
    later = make_code(store, PageCode("cs101", "ada", expires_at=time.time() + 60))
    assert read_code(store, later).expires_at is not None
    with pytest.raises(InvalidCode, match="expired"):
        read_code(store, later, now=time.time() + 120)
    store.pages.new_key("cs101")  # `links --revoke`: every earlier link ends
    with pytest.raises(InvalidCode):
        read_code(store, code)
    assert read_code(store, other_course).course == "cs102"


def test_the_page_token_is_a_real_token_nobody_sees(store: Store) -> None:
    first = store.pages.token_id("cs101")
    assert store.pages.token_id("cs101") == first
    assert store.tokens.of_course("cs101") == []  # `token list` does not show it
    store.tokens.revoke("cs101")
    assert store.pages.token_id("cs101") != first  # a usable one again


def test_roster_ids() -> None:
    assert roster_ids("name,login\nAda,ada\nBo,bo\n,\nAda again,ada\n") == ["ada", "bo"]
    assert roster_ids("ada\nbo\n") == ["ada", "bo"]  # no header: the first column
    assert roster_ids("Email,Student\nx@y,s1\n") == ["s1"]  # `student` comes first
    assert roster_ids("") == []


def test_links_prints_one_working_link_per_student(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    roster = tmp_path / "roster.csv"
    roster.write_text("student,name\nada,Ada\nbo,Bo\n")
    base = "https://grader.example.edu"
    code, out, err = run("serve", *data, "links", "cs101", "--students", str(roster),
                         "--student", "cy", "--expires-in", "7d", "--base-url", base)  # fmt: skip
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "student,url" and len(lines) == 4 and "valid until" in err
    store = Store(f"sqlite:///{tmp_path / 'service.db'}")
    try:
        for line, student in zip(lines[1:], ["ada", "bo", "cy"], strict=True):
            name, url = line.split(",")
            assert name == student and url.startswith(f"{base}/s/")
            page = read_code(store, url.rsplit("/", 1)[1])
            assert (page.course, page.student) == ("cs101", student)
            assert page.expires_at is not None and page.expires_at > time.time() + 6 * 86400
    finally:
        store.close()
    assert run("serve", *data, "links", "cs101", "--student", "x")[0] == 2  # no --base-url
    assert run("serve", *data, "links", "cs101", "--base-url", base)[0] == 2  # nobody
    assert run("serve", *data, "links", "c", "--student", "x", "--base-url", "http://evil")[0] == 2
    code, _, err = run("serve", *data, "links", "cs101", "--revoke")
    assert code == 0 and "no longer works" in err


def test_the_panel_in_html_keeps_student_text_as_text() -> None:
    """Messages, hints, titles and the file name can hold anything: all come out escaped."""
    issue = Issue(test="t", message=f"moved {HOSTILE}\n\u202egnp.py", hint=HOSTILE, line=3)
    check = CheckResult(id="causal_mask", title="Causal", passed=False, score=0, max_score=10,
                        issues=[issue])  # fmt: skip
    feedback = Feedback(status="failed", summary="1 issue detected", score=0, max_score=10,
                        checks=[check], submission=HOSTILE)  # fmt: skip
    page = html("job.html.j2", title="t", who=HOSTILE, file=HOSTILE, job_id="j", submitted="s",
                state="done", lti=False, back="/", gradebook=None, newer=None, attempts=1,
                **feedback_values(feedback)).body.decode()  # fmt: skip
    assert "<img" not in page and "<script>window" not in page and 'onerror="' not in page
    assert page.count("&lt;img src=x onerror=") >= 3
    assert "gnp.py" in page and "\u202e" not in page  # the override is taken out
    assert "line 3 of your file" in page and "hint: " in page
    crashed = Feedback.from_error(ErrorInfo(kind="syntax", message=HOSTILE, line=1))
    page = html("job.html.j2", title="t", who="w", file="f", job_id="j", submitted="s",
                state="done", lti=False, back="/", gradebook=None, newer=None, attempts=1,
                **feedback_values(crashed)).body.decode()  # fmt: skip
    assert "could not be run" in page and "<img" not in page


# --- a student hands in through a link ---------------------------------------------------


def link(service: Service, student: str, *extra: str) -> str:
    code, out, err = run("serve", *service.data_args, "links", "cs101", "--student", student,
                         "--base-url", service.url, *extra)  # fmt: skip
    assert code == 0, err
    return out.strip().splitlines()[1].split(",", 1)[1]


def test_a_student_hands_in_through_a_link_with_javascript_off(
    start_service: Any, browser: Any, tmp_path: Path
) -> None:
    """The form posts, the job's page shows progress and refreshes itself, then the panel:
    in a real browser with scripts off, no console error (CSP), hostile file name inert."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    service = start_service("--workers", "1", "--import-timeout", "3")
    url = link(service, "ada")
    bug = next(m for m in MUTATIONS if m.id == "layernorm_sample_variance")
    upload = tmp_path / f"{HOSTILE.replace('/', '')}.py"
    upload.write_text(apply(bug, reference_source()))
    with client(service, service.token()) as api:  # the one grader is busy with this first
        hog = api.post("/v1/submissions", content=HOG).json()
        wait_until(lambda: api.get(f"/v1/submissions/{hog['id']}").json()["status"] == "running",
                   30, "the first job to run")  # fmt: skip
    driver = browser(javascript=False)
    driver.get(url)
    assert "Mini-GPT: hand in minigpt.py" in driver.title
    assert "student ada" in driver.find_element(By.CLASS_NAME, "who").text
    screenshot(driver, "page-submit")
    driver.find_element(By.NAME, "file").send_keys(str(upload))
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(lambda: "/jobs/" in driver.current_url, 20, "the job's page")
    progress = driver.find_elements(By.TAG_NAME, "progress")
    assert progress and "Waiting for a grader" in driver.find_element(By.CLASS_NAME, "wait").text
    screenshot(driver, "page-progress")
    WebDriverWait(driver, 90, 0.5).until(lambda d: d.find_elements(By.CLASS_NAME, "verdict"))
    verdict = driver.find_element(By.CLASS_NAME, "verdict").text
    score = re.search(r"Score (\d+)/100", verdict)
    assert score and 0 < int(score.group(1)) < 100, verdict
    failed = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "ol.checks > li")
              if li.find_elements(By.CSS_SELECTOR, ".ko")]  # fmt: skip
    assert any("LayerNorm" in text for text in failed)
    heading = driver.find_element(By.TAG_NAME, "h1").text  # the file name, shown as text
    assert "<img src=x onerror=" in heading and "<script>window.pwned=2" in heading
    assert not driver.find_elements(By.TAG_NAME, "progress")
    assert console_errors(driver) == []
    screenshot(driver, "page-feedback")
    driver.get(url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB"))  # a changed code
    assert "not valid" in driver.find_element(By.CLASS_NAME, "problem").text
    screenshot(driver, "page-refused")
    store = service.store()
    try:
        jobs, total = store.reads.jobs("cs101", "ada", None, 10, 0)
    finally:
        store.close()
    assert total == 1 and jobs[0].outcome == "failed"


def test_forged_expired_and_oversized_are_refused_on_the_page(start_service: Any) -> None:
    service = start_service("--max-source-bytes", "2000")
    good = link(service, "ada")
    expired = link(service, "bo", "--expires-in", "1")
    time.sleep(1.5)
    with httpx.Client(timeout=20) as http:
        page = http.get(good)
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        head, payload, signature = good.rsplit("/", 1)[1].split(".")
        claims = jwt.decode(f"{head}.{payload}.{signature}", options={"verify_signature": False})
        other = jwt.encode({**claims, "s": "bo"}, GUESS, algorithm="HS256").split(".")[1]
        forged = good.replace(payload, other)
        for url, why in ((forged, "not valid"), (expired, "expired")):
            refused = http.get(url)
            assert refused.status_code == 403 and why in refused.text
            refused = http.post(url, files={"file": ("minigpt.py", b"x = 1\n")})
            assert refused.status_code == 403
        attempt = re.search(r'name="attempt" value="(\w+)"', page.text)
        assert attempt is not None
        big = http.post(good, files={"file": ("minigpt.py", b"#" * 3000)},
                        data={"attempt": attempt.group(1)})  # fmt: skip
        assert big.status_code == 413 and "limit of 2000 bytes" in big.text
        job = http.post(good, files={"file": ("minigpt.py", b"x=1\n")},
                        data={"attempt": attempt.group(1)})  # fmt: skip
        assert job.status_code == 303
        again = http.post(good, files={"file": ("minigpt.py", b"x=1\n")},
                          data={"attempt": attempt.group(1)})  # fmt: skip
        assert again.headers["location"] == job.headers["location"]  # a double submit
        other_student = link(service, "cy")
        stolen = job.headers["location"].replace(good, other_student)
        assert http.get(stolen).status_code == 404  # cy cannot read ada's job
    store = service.store()
    try:
        assert store.reads.jobs("cs101", None, None, 10, 0)[1] == 1
    finally:
        store.close()
