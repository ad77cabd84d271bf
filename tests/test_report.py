"""The class report: what it shows, that student text stays text, and that it renders.

The page tests use a real batch (``class_out`` in conftest.py: process sandbox,
a few files of the bank) and a real headless browser: Debian's chromium
driven by selenium through chromedriver (``scripts/ensure-chromium.sh``
installs both; CI must have them, so there a missing browser fails instead of
skipping). The students' and the pairs' own pages are in test_pages.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from click.testing import CliRunner
from html_support import HOSTILE_FILE, SCRIPT, assert_inert, console_errors, parse, policy
from html_support import requested as requested_urls
from support import SKELETON, check_results

from grader.batch import class_summary
from grader.cli import cli
from grader.models import ErrorInfo, Feedback, Issue
from grader.report.html import failure_messages, pair_pages, render_report
from grader.report.similarity import Fragment, SimilarityReport, SimilarPair
from grader.report.triage import needs_help
from grader.rubric import CHECKS


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
        "<i>cy": feedback("cy.py", {}, ErrorInfo(kind="policy", message=f"no {SCRIPT}")),
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
    assert_inert(page, scripts=1, charts=True)
    assert "&lt;script&gt;window.pwned=3&lt;/script&gt;" in page, "shown, as text"
    assert "\u202e" not in page, "direction overrides are removed"
    assert "&lt;b onmouseover=alert(1)&gt;ada" in page
    links = {attrs.get("href") for tag, attrs in parse(page).elements if tag == "a"}
    assert "students/%3Cb%20onmouseover%3Dalert%281%29%3Eada.html" in links, "quoted links"


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


def test_who_needs_help_groups_the_students_below_the_threshold_by_check() -> None:
    everything = {c.id: ["no"] for c in CHECKS}
    policy_error = ErrorInfo(kind="policy", message="Not allowed: import os. More.", line=1)
    results = {
        "ann": feedback("a.py", {"causal_mask": ["x"], "training": ["y"], "layernorm": ["z"]}),
        "ben": feedback("b.py", {"causal_mask": ["x"], "generate_sampling": ["y"]}),
        "cat": feedback("c.py", {"causal_mask": ["x"]}),  # 90 points: not below 86
        "dan": Feedback.from_error(policy_error),
        "eva": feedback("e.py", everything),  # the skeleton handed in: ran, passed nothing
        "fox": Feedback.not_gradable("Docker is down."),
    }
    view = needs_help(results, threshold=86)
    assert view.students == ["dan", "eva", "ann", "ben"], "lowest score first; cat is at 90"
    groups = {(g.kind, g.key): g.students for g in view.groups}
    assert groups == {
        ("error", "policy"): ["dan"],
        ("nothing", "nothing"): ["eva"],
        ("check", "causal_mask"): ["ann", "ben"],
        ("check", "layernorm"): ["ann"],
        ("check", "training"): ["ann"],
        ("check", "generate_sampling"): ["ben"],
    }, "a file that did not run, or passed nothing, is one row, not 18"
    assert [g.key for g in view.groups][:3] == ["policy", "nothing", "causal_mask"]
    assert view.not_gradable == ["fox"]
    assert view.to_json()["by_check"]["causal_mask"] == ["ann", "ben"]
    assert needs_help(results, threshold=0).students == []


def test_a_file_that_did_not_run_says_why_instead_of_18_failures() -> None:
    error = ErrorInfo(kind="policy", message="Not allowed: line 1: `import os`. Use math.")
    results = {"gus": Feedback.from_error(error), "ann": feedback("a.py", {"training": ["y"]})}
    results["gus"].summary = "Not allowed: line 1: `import os`."
    page = render_report(results, class_summary(results))
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r'<tr>\s*<td data-sort="(\w+)">(.*?)</tr>', page, re.S)
    }
    assert "policy: Not allowed: line 1: `import os`." in rows["gus"]
    assert "<code>shapes</code>" not in rows["gus"], "no chip per check"
    assert "<code>training</code>" in rows["ann"]


def test_long_pair_page_names_stay_short_and_distinct() -> None:
    long_a, long_b = "a" * 100, "b" * 100
    names = pair_pages([("x--y", "z"), ("x", "y--z"), (long_a, long_b), ("p", "q")])
    assert len(set(names.values())) == 4
    assert names[("p", "q")] == "pairs/p--q.html"
    assert all(len(n.encode()) < 240 for n in names.values())
    assert names[("x--y", "z")] == "pairs/x--y--z.html" != names[("x", "y--z")]


# --- a real batch -------------------------------------------------------------------------


def links(page: str) -> list[str]:
    return [unquote(a.get("href") or "") for tag, a in parse(page).elements if tag == "a"]


def test_batch_writes_the_report_and_the_similar_pairs(class_out: Path) -> None:
    summary = json.loads((class_out / "summary.json").read_text())
    similarity = summary["similarity"]
    # bo is a disguised copy of ada; dee is the reference with one bug, fay the reference.
    assert {(p["a"], p["b"]) for p in similarity["pairs"]} == {("ada", "bo"), ("dee", "fay")}
    assert similarity["submissions"] == 8 and similarity["pairs"][0]["fragments"]
    page = (class_out / "report.html").read_text(encoding="utf-8")
    assert_inert(page, scripts=1, charts=True)
    assert 'href="#pair-1"' in page and 'id="pair-1"' in page
    students = [h for h in links(page) if h.startswith("students/")]
    assert len(set(students)) == 8
    for student in students:
        assert (class_out / student).is_file(), "links are relative and every page exists"
    jsons = {h for h in links(page) if h.startswith("results/")}
    assert len(jsons) == 8 and all((class_out / h).is_file() for h in jsons)
    pairs = {h for h in links(page) if h.startswith("pairs/")}
    assert pairs == {"pairs/ada--bo.html", "pairs/dee--fay.html"}
    assert {p.name for p in (class_out / "pairs").iterdir()} == {"ada--bo.html", "dee--fay.html"}
    assert "causal_mask" in page and "Scores of 8 submissions" in page


def test_the_report_says_who_needs_help(class_out: Path) -> None:
    """--help-threshold 95: dee (90, the mask) is listed under causal_mask; the three that
    could not run or passed nothing get one row each; fay (100) is nowhere."""
    page = (class_out / "report.html").read_text(encoding="utf-8")
    section = page[page.index('id="help"') : page.index('id="plots"')]
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r'<tr class="help-group" id="help-([\w-]+)">(.*?)</tr>', section, re.S)
    }
    assert set(rows) == {"error-syntax", "error-policy", "nothing-nothing", "check-causal_mask"}
    assert "students/dee.html" in rows["check-causal_mask"] and "(90)" in rows["check-causal_mask"]
    assert "students/gus.html" in rows["error-policy"] and "import os" in rows["error-policy"]
    assert "students/eve.html" in rows["error-syntax"]
    assert "fay" not in section and "4 students scored below 95 of 100" in section
    summary = json.loads((class_out / "summary.json").read_text())["needs_help"]
    assert summary["threshold"] == 95 and summary["by_check"] == {"causal_mask": ["dee"]}


def test_the_gradebook_links_each_student_page(class_out: Path) -> None:
    import csv

    rows = list(csv.DictReader(io.StringIO((class_out / "gradebook.csv").read_text())))
    assert len(rows) == 8
    for row in rows:
        assert row["page"] == f"students/{row['student']}.html"
        assert (class_out / row["page"]).is_file()


def test_the_page_allows_only_its_own_script(class_out: Path) -> None:
    """The Content Security Policy: nothing may load, only the page's script (by hash) runs."""
    page = (class_out / "report.html").read_text(encoding="utf-8")
    rules = policy(page)
    assert "default-src 'none'" in rules
    (script,) = parse(page).scripts
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in rules


def test_a_batch_without_similarity_has_no_similarity(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    (root / "ada.py").write_bytes(SKELETON.read_bytes())
    out = tmp_path / "o"
    (out / "pairs").mkdir(parents=True)
    (out / "pairs" / "old--pair.html").write_text("a pair of an earlier run")
    result = CliRunner().invoke(
        cli, ["batch", str(root), "--out", str(out), "--sandbox", "process"]
    )
    assert result.exit_code == 0, result.output
    assert "similarity" not in json.loads((out / "summary.json").read_text())
    page = (out / "report.html").read_text()
    assert "Similar submissions" not in page and "<svg" in page
    assert not list((out / "pairs").iterdir()), "no page of a pair the report does not list"
    assert not (out / "junit.xml").exists(), "JUnit only when asked for"
    assert (out / "students" / "ada.html").is_file()


# --- the page in a real browser -----------------------------------------------------------


def test_the_report_renders_in_a_browser(browser: Any, class_out: Path) -> None:
    from PIL import Image, ImageStat
    from selenium.webdriver.common.by import By

    url = (class_out / "report.html").resolve().as_uri()
    browser.get(url)
    assert browser.title == "Mini-GPT class report"
    assert console_errors(browser) == [], "no console errors (a CSP violation would be one)"
    assert requested_urls(browser, url) == {url}, "the page fetches nothing but itself"
    assert browser.execute_script("return window.pwned === undefined")
    charts = browser.find_elements(By.CSS_SELECTOR, "figure > svg")
    assert len(charts) == 2
    for chart in charts:
        assert chart.size["width"] > 200 and chart.size["height"] > 100
        assert chart.find_elements(By.CSS_SELECTOR, "path, rect"), "the chart has marks"
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("L")
    assert ImageStat.Stat(shot).var[0] > 200, "the screenshot is not blank"


def test_the_report_links_reach_the_student_and_pair_pages(browser: Any, class_out: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get((class_out / "report.html").resolve().as_uri())
    help_link = browser.find_element(By.CSS_SELECTOR, "#help-check-causal_mask a")
    help_link.click()
    assert browser.title == "Feedback: dee"
    browser.back()
    browser.find_element(By.CSS_SELECTOR, "a.pair-page").click()  # the most similar pair
    assert browser.title == "Similar: dee and fay"
    assert console_errors(browser) == []


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
    shown = [
        c.get_attribute("data-sort")
        for c in table.find_elements(By.CSS_SELECTOR, "tbody tr td:first-child")
    ]
    assert shown == sorted(shown, key=str.casefold) or shown == sorted(shown)
