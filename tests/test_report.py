"""The class report: what it shows, that student text stays text, and that it renders.

The page tests use a real batch (process sandbox, a few files of the bank) and
a real headless browser: Debian's chromium driven by selenium through
chromedriver (``scripts/ensure-chromium.sh`` installs both; CI must have them,
so there a missing browser fails instead of skipping).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from disguise import disguise
from solutions.mutations import MUTATIONS, apply, reference_source
from support import (
    CHROMIUM_FLAGS,
    REFERENCE,
    REQUIRE_DOCKER,
    SKELETON,
    SOLUTIONS,
    check_results,
)

from grader.batch import class_summary
from grader.cli import cli
from grader.models import ErrorInfo, Feedback, Issue
from grader.report.html import failure_messages, render_report
from grader.report.similarity import Fragment, SimilarityReport, SimilarPair
from grader.rubric import CHECKS

# A file name cannot hold "/", so no closing tag; an opening one is enough to run code.
HOSTILE_FILE = '"><img src=x onerror="window.pwned=1"><svg onload=window.pwned=2>.py'
SCRIPT = "<script>window.pwned=3</script>"


class Tags(HTMLParser):
    """Every element and attribute of a page, as the browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


def assert_inert(page: str) -> None:
    """Only the page's own markup: one inline script, no handler, nothing that fetches."""
    tags = parse(page)
    names = {tag for tag, _ in tags.elements}
    assert not names & {"img", "iframe", "object", "embed", "link", "base", "form", "meta"} - {
        "meta"
    }
    assert [tag for tag, _ in tags.elements].count("script") == 1
    for tag, attrs in tags.elements:
        assert not [a for a in attrs if a.startswith("on")], f"an event handler on <{tag}>"
        assert "src" not in attrs, f"<{tag}> loads something"
        href = attrs.get("href") or ""
        assert not re.match(r"\s*(javascript:|[a-z]+://|//)", href, re.I), href
    assert "window.pwned" not in "".join(tags.scripts)


def feedback(
    student_file: str, failures: dict[str, list[str]], error: ErrorInfo | None = None
) -> Feedback:
    checks = check_results(
        {
            check: [Issue(test="t", message=m) for m in messages]
            for check, messages in failures.items()
        }
    )
    score = sum(c.score for c in checks)
    return Feedback(
        status="error" if error else ("failed" if failures else "passed"),
        summary="",
        score=score,
        max_score=100.0,
        checks=checks,
        error=error,
        submission=student_file,
    )


# --- rendering: pure, from Feedback objects built here --------------------------------------


def test_student_text_cannot_add_markup_or_script() -> None:
    """Hostile ids, file names, messages and source fragments all come out as text."""
    hostile_id = "<b onmouseover=alert(1)>ada"
    results = {
        hostile_id: feedback(HOSTILE_FILE, {"causal_mask": [f"</li>{SCRIPT} moved 0.5"]}),
        "bo": feedback("\u202egnp.py", {}),
    }
    fragment = Fragment(
        a_lines=(1, 2),
        b_lines=(3, 4),
        a_text=f"</pre>{SCRIPT}\nx = 1",
        b_text='<img src=x onerror="window.pwned=4">',
    )
    pair = SimilarPair(
        a=hostile_id, b="bo", similarity=0.9, a_share=0.9, b_share=0.8, fragments=[fragment]
    )
    similarity = SimilarityReport(
        threshold=0.6,
        submissions=2,
        pairs_compared=1,
        not_compared={"<i>eve</i>": f"not UTF-8 {SCRIPT}"},
        pairs=[pair],
    )
    page = render_report(results, class_summary(results), similarity, suite_hash="abc")
    assert_inert(page)
    assert "&lt;script&gt;window.pwned=3&lt;/script&gt;" in page, "shown, as text"
    assert "\u202e" not in page, "direction overrides are removed"
    assert "&lt;b onmouseover=alert(1)&gt;ada" in page


def test_failure_messages_are_grouped_across_numbers() -> None:
    results = {
        "a": feedback("a.py", {"causal_mask": ["row 0 moved by 0.25 when row 3 changed"]}),
        "b": feedback("b.py", {"causal_mask": ["row 0 moved by 1e-3 when row 2 changed"]}),
        "c": feedback("c.py", {"causal_mask": ["row 0 moved by 0.25 when row 3 changed"]}),
        "d": feedback("d.py", {"causal_mask": ["the mask is ignored"], "shapes": ["(3, 4)"]}),
    }
    grouped = failure_messages(results)
    first, second = grouped["causal_mask"]
    assert (first.count, first.variants) == (3, 2)
    assert first.text == "row 0 moved by 0.25 when row 3 changed", "the most frequent example"
    assert (second.text, second.count) == ("the mask is ignored", 1)
    assert [m.text for m in grouped["shapes"]] == ["(3, 4)"]


def test_checks_are_listed_hardest_first_and_could_not_run_is_counted() -> None:
    results = {
        "a": feedback("a.py", {"training": ["no"], "shapes": ["no"]}),
        "b": feedback("b.py", {"training": ["no"]}),
        "c": feedback("c.py", {c.id: [] for c in CHECKS}, ErrorInfo(kind="syntax", message="x")),
    }
    page = render_report(results, class_summary(results))
    order = re.findall(r'<tr id="check-([a-z_]+)">', page)
    assert order[:2] == ["training", "shapes"] and len(order) == len(CHECKS)
    assert "syntax 1" in page and "1 could not run at all" in page


# --- a real batch -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def class_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``grade batch --similarity`` (process sandbox) on a small class with a copy in it."""
    root = tmp_path_factory.mktemp("class")
    original = (SOLUTIONS / "correct_relu_reordered.py").read_text(encoding="utf-8")
    (root / "ada.py").write_text(original)
    (root / "bo.py").write_text(disguise(original, seed=4))
    (root / "cy.py").write_bytes((SOLUTIONS / "correct_gpt2_init.py").read_bytes())
    bug = next(m for m in MUTATIONS if m.id == "mask_missing")
    (root / "dee.py").write_text(apply(bug, reference_source()))
    (root / HOSTILE_FILE).write_bytes(SKELETON.read_bytes())
    (root / "eve.py").write_text(f'x = ("{SCRIPT}"\n')
    (root / "fay.py").write_bytes(REFERENCE.read_bytes())
    out = tmp_path_factory.mktemp("out")
    result = CliRunner().invoke(
        cli,
        ["batch", str(root), "--out", str(out), "--sandbox", "process", "--similarity"],
    )
    assert result.exit_code == 0, result.output
    return out


def test_batch_writes_the_report_and_the_similar_pairs(class_out: Path) -> None:
    summary = json.loads((class_out / "summary.json").read_text())
    similarity = summary["similarity"]
    # bo is a disguised copy of ada; dee is the reference with one bug, fay the reference.
    assert {(p["a"], p["b"]) for p in similarity["pairs"]} == {("ada", "bo"), ("dee", "fay")}
    assert similarity["submissions"] == 7 and similarity["pairs"][0]["fragments"]
    page = (class_out / "report.html").read_text(encoding="utf-8")
    assert_inert(page)
    assert 'href="#pair-1"' in page and 'id="pair-1"' in page
    students = re.findall(r'<a href="results/([^"]+)\.json">', page)
    assert len(students) == 7
    for student in students:
        assert (class_out / "results" / f"{student}.json").is_file(), "links are relative"
    assert "causal_mask" in page and "Scores of 7 submissions" in page


def test_the_page_allows_only_its_own_script(class_out: Path) -> None:
    """The Content Security Policy: nothing may load, only the page's script (by hash) runs."""
    page = (class_out / "report.html").read_text(encoding="utf-8")
    tags = parse(page)
    policy = next(
        attrs["content"] or ""
        for tag, attrs in tags.elements
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    )
    assert "default-src 'none'" in policy
    (script,) = tags.scripts
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy


def test_a_batch_without_similarity_has_no_similarity(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    (root / "ada.py").write_bytes(SKELETON.read_bytes())
    result = CliRunner().invoke(
        cli, ["batch", str(root), "--out", str(tmp_path / "o"), "--sandbox", "process"]
    )
    assert result.exit_code == 0, result.output
    assert "similarity" not in json.loads((tmp_path / "o" / "summary.json").read_text())
    page = (tmp_path / "o" / "report.html").read_text()
    assert "Similar submissions" not in page and "<svg" in page


# --- the page in a real browser -----------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        message = "chromium or chromedriver missing: run scripts/ensure-chromium.sh"
        if REQUIRE_DOCKER:
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, "--window-size=1280,2000"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def test_the_report_renders_in_a_browser(browser: Any, class_out: Path) -> None:
    from PIL import Image, ImageStat
    from selenium.webdriver.common.by import By

    url = (class_out / "report.html").resolve().as_uri()
    browser.get(url)
    assert browser.title == "Mini-GPT class report"
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], "no console errors (a CSP violation would be one)"
    events = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
    requested = {
        event["params"]["request"]["url"]
        for event in events
        if event["method"] == "Network.requestWillBeSent"
        and event["params"].get("documentURL") == url  # not the browser's own start page
    }
    assert requested == {url}, "the page fetches nothing but itself"
    assert browser.execute_script("return window.pwned === undefined")
    charts = browser.find_elements(By.CSS_SELECTOR, "figure > svg")
    assert len(charts) == 2
    for chart in charts:
        assert chart.size["width"] > 200 and chart.size["height"] > 100
        assert chart.find_elements(By.CSS_SELECTOR, "path, rect"), "the chart has marks"
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("L")
    assert ImageStat.Stat(shot).var[0] > 200, "the screenshot is not blank"


def test_the_student_table_sorts(browser: Any, class_out: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get((class_out / "report.html").resolve().as_uri())
    table = browser.find_element(By.ID, "student-table")
    header = table.find_element(By.XPATH, ".//th[normalize-space()='score']")

    def scores() -> list[float]:
        cells = table.find_elements(By.CSS_SELECTOR, "tbody tr td:nth-child(4)")
        return [float(c.get_attribute("data-sort")) for c in cells]

    before = scores()
    header.click()
    assert scores() == sorted(before) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert scores() == sorted(before, reverse=True)
    names = table.find_element(By.XPATH, ".//th[normalize-space()='student']")
    names.click()
    shown = [c.text for c in table.find_elements(By.CSS_SELECTOR, "tbody tr td:first-child")]
    assert shown == sorted(shown, key=str.casefold) or shown == sorted(shown)
