"""The report in a real browser: Debian's headless Chromium (driven by Playwright) opens
report.html with no console error and every image decoded, and saves a screenshot.

Without a Chromium the test skips, unless ``MGMRN_REQUIRE_DATA=1`` (CI, whose ``.ci/run``
installs one): then it fails.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import REQUIRED

BROWSERS = ("chromium", "chromium-browser")


def unavailable(message: str) -> None:
    if REQUIRED:
        pytest.fail(f"{message}, and MGMRN_REQUIRE_DATA is set (CI installs it: .ci/run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's chromium (Playwright's own browser download is not used); checked
    before the runs are trained."""
    found = next((p for p in map(shutil.which, BROWSERS) if p), None)
    if found is None:
        unavailable("no chromium found (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    return found  # type: ignore[return-value]


@contextlib.contextmanager
def watched_page(chromium: str, url: str, width: int, height: int) -> Iterator[tuple[Any, list[str]]]:
    """A headless Chromium page loaded from ``url``, and the list its console errors, page
    errors and failed requests are written to."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"failed to load {r.url[:80]}"))
        page.goto(url, wait_until="load")
        try:
            yield page, problems
        finally:
            browser.close()


def test_the_report_opens_in_chromium_without_errors(chromium: str, report_dir: Path, tmp_path: Path):
    with watched_page(chromium, (report_dir / "report.html").resolve().as_uri(), 1200, 900) as (page, problems):
        images = page.evaluate("Array.from(document.images, i => [i.alt, i.complete, i.naturalWidth])")
        sections = page.evaluate("Array.from(document.querySelectorAll('h2'), h => h.id)")
        widths = page.evaluate("Array.from(document.querySelectorAll('h2 + p + img'), i => i.clientWidth)")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert problems == []
    assert sections == ["metrics", "seen-unseen", "reliability", "training", "per-class", "confusion",
                        "attribute-error", "attribute-breakdown", "tsne", "attention", "sweep"]
    assert len(images) == len(sections) - 1 and min(widths) > 300  # every figure but the metrics table, shown
    assert [alt for alt, complete, width in images if not complete or width == 0] == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
