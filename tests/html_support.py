"""What the page tests share: parsing a page as a browser would, and asserting it is inert.

The pages of the class folder (report.html, students/*.html, pairs/*.html)
quote student-controlled text; these helpers check that none of it became
markup, and read what a real browser logged and fetched.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

from support import CHROMIUM_FLAGS as BROWSER_FLAGS

# A file name cannot hold "/", so no closing tag; an opening one is enough to run code.
HOSTILE_FILE = '"><img src=x onerror="window.pwned=1"><svg onload=window.pwned=2>.py'
SCRIPT = "<script>window.pwned=3</script>"
LONG_LINE = "# " + "a_very_long_comment_word " * 40  # far wider than half a screen
CHROMIUM_FLAGS = (*BROWSER_FLAGS, "--window-size=1280,2000")  # the class report's tests


class Tags(HTMLParser):
    """Every element and attribute of a page, as the browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)
        else:
            self.text.append(data)


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


FETCHING = frozenset({"img", "iframe", "object", "embed", "link", "base", "form"})


def assert_inert(page: str, scripts: int = 0, charts: bool = False) -> None:
    """Only the page's own markup: ``scripts`` inline scripts, no handler, nothing that fetches;
    ``charts``: the page has its own inline SVG (the report), no other page may."""
    tags = parse(page)
    names = {tag for tag, _ in tags.elements}
    assert not names & (FETCHING if charts else FETCHING | {"svg"}), names
    assert [tag for tag, _ in tags.elements].count("script") == scripts
    for tag, attrs in tags.elements:
        assert not [a for a in attrs if a.startswith("on")], f"an event handler on <{tag}>"
        assert "src" not in attrs, f"<{tag}> loads something"
        href = attrs.get("href") or ""
        assert not re.match(r"\s*(javascript:|[a-z]+://|//)", href, re.I), href
    assert "window.pwned" not in "".join(tags.scripts)


def policy(page: str) -> str:
    """The page's Content Security Policy (its meta element)."""
    return next(
        attrs["content"] or ""
        for tag, attrs in parse(page).elements
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    )


def console_errors(browser: Any) -> list[dict[str, Any]]:
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def requested(browser: Any, url: str) -> set[str]:
    """Every URL the page at ``url`` asked for (the browser's own start page aside)."""
    events = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
    return {
        event["params"]["request"]["url"]
        for event in events
        if event["method"] == "Network.requestWillBeSent"
        and event["params"].get("documentURL") == url
    }
