"""The class folder's own pages: a page per student and a side-by-side page per similar pair.

Rendering is tested from models built here (hostile text included); the
pages a real batch wrote (``class_out`` in conftest.py) are opened in
headless chromium, like the report.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from html_support import (
    HOSTILE_FILE,
    LONG_LINE,
    SCRIPT,
    assert_inert,
    console_errors,
    parse,
    policy,
)
from html_support import requested as requested_urls
from support import SKELETON, check_results

from grader.formats.safe_text import terminal_text
from grader.models import ErrorInfo, Feedback, Issue
from grader.report.pairs import annotate, render_pair_page, skeleton_lines
from grader.report.similarity import Fragment, SimilarPair
from grader.report.student import render_student_page

SOURCE = "import math\n\nclass Model:\n    def forward(self, x):  # </pre>" + SCRIPT + "\n"


def graded(source: str, failures: dict[str, list[Issue]], **fields: Any) -> Feedback:
    checks = check_results(failures)
    return Feedback(
        status="failed" if failures else "passed",
        summary=f"{len(failures)} issues detected" if failures else "No issues detected",
        score=sum(c.score for c in checks),
        max_score=100.0,
        checks=checks,
        submission="minigpt.py",
        submission_sha256=hashlib.sha256(source.encode()).hexdigest(),
        **fields,
    )


def text_of(page: str) -> str:
    return "".join(parse(page).text)


# --- a student's page: rendering ----------------------------------------------------------


def test_a_student_page_shows_each_failing_check_with_line_source_and_hint() -> None:
    issues = [
        Issue(
            test="t1", message="row 0 moved by 0.5: position 0 sees 4", hint="Mask j > i.", line=4
        ),
        Issue(test="t2", message="token 5 moved position 0", hint="Mask j > i.", line=None),
    ]
    feedback = graded(
        SOURCE, {"causal_mask": issues, "training": [Issue(test="t", message="flat")]}
    )
    page = render_student_page("ada", feedback, SOURCE)
    assert_inert(page)
    text = text_of(page)
    assert "row 0 moved by 0.5: position 0 sees 4" in text and "token 5 moved position 0" in text
    assert "line 4" in text and "def forward(self, x):  # </pre>" + SCRIPT in text, "quoted"
    assert text.count("Mask j > i.") == 1, "a hint shared by consecutive issues is said once"
    assert "To fix (2 checks)" in text and "Passed (16 of 18)" in text
    assert "83/100" in text
    sections = [a.get("id") for tag, a in parse(page).elements if tag == "section"]
    assert sections == ["check-causal_mask", "check-training"], "in rubric order, failing only"


def test_a_student_page_quotes_no_line_of_a_file_that_changed() -> None:
    issue = Issue(test="t", message="moved", line=4)
    feedback = graded(SOURCE, {"causal_mask": [issue]})
    page = render_student_page("ada", feedback, SOURCE.replace("forward", "backward"))
    assert "line 4" in text_of(page) and "backward" not in page and "forward" not in page


def test_student_text_on_a_student_page_stays_text() -> None:
    hostile = f"</p>{SCRIPT}<img src=x onerror=window.pwned=5>\u202e\x1b[31m"
    issue = Issue(test="t", message=hostile, hint=hostile, line=4)
    feedback = graded(SOURCE, {"causal_mask": [issue]})
    feedback.submission = HOSTILE_FILE
    page = render_student_page('"><b>ada', feedback, SOURCE)
    assert_inert(page)
    assert "&lt;script&gt;window.pwned=3&lt;/script&gt;" in page
    assert "\u202e" not in page and "\x1b" not in page and "\\x1b[31m" in page
    assert "default-src 'none'" in policy(page) and "script-src" not in policy(page)


def test_a_file_that_could_not_run_says_why_once() -> None:
    error = ErrorInfo(kind="policy", message="Not allowed: line 1: `import os`.", line=1)
    feedback = Feedback.from_error(error)
    source = "import os\nx = 1\n"
    feedback.submission_sha256 = hashlib.sha256(source.encode()).hexdigest()
    page = render_student_page("gus", feedback, source)
    text = text_of(page)
    assert "could not run (policy)" in text and "none of the 18 checks" in text
    assert "line 1" in text and "import os" in text
    assert not [a for tag, a in parse(page).elements if tag == "section"], "no 18 failures"


def test_a_result_that_is_not_gradable_claims_no_score() -> None:
    page = render_student_page("ann", Feedback.not_gradable("The Docker engine is down."))
    text = text_of(page)
    assert "not graded" in text and "Docker engine is down" in text and "/100" not in text


# --- a pair's page: rendering -------------------------------------------------------------


def test_annotate_cuts_lines_exactly_where_the_matches_are() -> None:
    text = "alpha = 1\nbeta = 2\r\n\ngamma = 3"
    spans = [(2, 14), (21, 26)]  # "pha = 1\nbeta" and "gamma"
    lines = annotate(text, spans, [(2, 4)], skeleton_lines("beta = 2\n"))
    assert ["".join(t for t, _ in line.segments) for line in lines] == text.splitlines()
    marked = [[t for t, shared in line.segments if shared] for line in lines]
    assert marked == [["pha = 1"], ["beta"], [], ["gamma"]]
    assert [line.skeleton for line in lines] == [False, True, False, False]
    assert [line.starts for line in lines] == [[], [1], [], []]
    assert [line.fragment for line in lines] == [False, True, True, True]


def hostile_pair() -> tuple[SimilarPair, str, str]:
    a = f"x = 1\n# </td>{SCRIPT}\u202e\n"
    b = f"y = 2\n# </td>{SCRIPT}\u202e\n"
    pair = SimilarPair(
        a="<i>a",
        b='"><b>b',
        similarity=0.9,
        a_share=0.9,
        b_share=0.9,
        fragments=[Fragment(a_lines=(2, 2), b_lines=(2, 2), a_text="", b_text="")],
        a_spans=[(6, len(a) - 1)],
        b_spans=[(6, len(b) - 1)],
    )
    return pair, a, b


def test_a_pair_page_is_inert_and_shows_both_files_whole() -> None:
    pair, a, b = hostile_pair()
    page = render_pair_page(pair, a, b, "x = 1\n", "pair-1")
    assert_inert(page)
    assert "&lt;script&gt;window.pwned=3&lt;/script&gt;" in page and "\u202e" not in page
    assert "default-src 'none'" in policy(page) and "script-src" not in policy(page)
    text = text_of(page)
    for line in (a + b).splitlines():
        assert terminal_text(line, multiline=True) in text
    tags = parse(page).elements
    assert sum(tag == "mark" for tag, _ in tags) == 2
    skeleton_rows = [
        a.get("id") for tag, a in tags if tag == "tr" and "skel" in (a.get("class") or "")
    ]
    assert skeleton_rows == ["a-L1"], "x = 1 is the skeleton's line, y = 2 is not"
    hrefs = {a.get("id"): a.get("href") for tag, a in tags if tag == "a" and a.get("id")}
    assert hrefs == {"a-f1": "#b-f1", "b-f1": "#a-f1"}


# --- the pages a batch wrote, in a browser --------------------------------------------------


def test_a_batch_writes_a_page_per_student(class_out: Path) -> None:
    pages = sorted((class_out / "students").glob("*.html"))
    assert [p.stem for p in pages] == sorted(p.stem for p in (class_out / "results").glob("*.json"))
    for path in pages:
        assert_inert(path.read_text(encoding="utf-8"))
    dee = text_of((class_out / "students" / "dee.html").read_text(encoding="utf-8"))
    assert "Causal mask: no position sees the future" in dee and "j > i" in dee, "the hint"
    assert "90/100" in dee and "Passed (17 of 18)" in dee


def test_the_student_pages_render_in_a_browser(browser: Any, class_out: Path) -> None:
    from PIL import Image, ImageStat
    from selenium.webdriver.common.by import By

    for name in ("dee", "gus", "eve", "img_src_x_onerror_window.pwned_1_svg_onload_window.pwned_2"):
        url = (class_out / "students" / f"{name}.html").resolve().as_uri()
        browser.get(url)
        assert browser.title == f"Feedback: {name}"
        assert console_errors(browser) == [], name
        assert requested_urls(browser, url) == {url}, "the page fetches nothing but itself"
        assert browser.execute_script("return window.pwned === undefined")
    browser.get((class_out / "students" / "dee.html").resolve().as_uri())
    check = browser.find_element(By.ID, "check-causal_mask")
    assert "position 0" in check.text and check.size["height"] > 60
    assert check.find_element(By.CSS_SELECTOR, ".hint").is_displayed()
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("L")
    assert ImageStat.Stat(shot).var[0] > 200, "the screenshot is not blank"
    browser.find_element(By.LINK_TEXT, "← class report").click()
    assert browser.title == "Mini-GPT class report"


def test_a_pair_page_holds_both_files_and_marks_the_matches(class_out: Path) -> None:
    page = (class_out / "pairs" / "ada--bo.html").read_text(encoding="utf-8")
    assert_inert(page)
    tags = parse(page)
    text = "".join(tags.text)
    known = skeleton_lines(SKELETON.read_text(encoding="utf-8"))
    expected = set()
    for side, name in (("a", "ada"), ("b", "bo")):
        source = (class_out.parent / "class" / f"{name}.py").read_text(encoding="utf-8")
        for number, line in enumerate(source.splitlines(), start=1):
            assert terminal_text(line, multiline=True) in text, line
            if line.strip() in known:
                expected.add(f"{side}-L{number}")
    assert sum(tag == "mark" for tag, _ in tags.elements) > 20
    rows = [a for tag, a in tags.elements if tag == "tr"]
    skeleton = {a.get("id") for a in rows if "skel" in (a.get("class") or "")}
    assert skeleton == expected and len(skeleton) > 10, "the skeleton's lines are told apart"


def test_a_pair_page_wraps_long_lines_and_links_its_fragments(
    browser: Any, class_out: Path
) -> None:
    from selenium.webdriver.common.by import By

    url = (class_out / "pairs" / "ada--bo.html").resolve().as_uri()
    browser.get(url)
    assert console_errors(browser) == [] and requested_urls(browser, url) == {url}
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    ), "nothing wider than the window"
    long_cell = next(
        cell
        for cell in browser.find_elements(By.CSS_SELECTOR, "#file-b td.src")
        if LONG_LINE.strip()[:40] in cell.text
    )
    sizes = browser.execute_script(
        "var c = arguments[0]; return [c.scrollWidth, c.clientWidth, c.getBoundingClientRect()"
        ".height, parseFloat(getComputedStyle(c).lineHeight)];",
        long_cell,
    )
    scroll_width, client_width, height, line_height = sizes
    assert scroll_width <= client_width, "the long line is not cut off"
    assert height > 3 * line_height, "it wraps onto several lines"
    assert browser.execute_script("return arguments[0].textContent", long_cell) == LONG_LINE
    first = browser.find_element(By.ID, "a-f1")
    first.click()
    assert browser.execute_script("return location.hash") == "#b-f1"
    partner = browser.find_element(By.ID, "b-f1")
    assert partner.is_displayed() and browser.execute_script(
        "var r = arguments[0].getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight",
        partner,
    ), "the partner fragment is scrolled into view"
