"""The page of ``mgmrn serve`` in a real browser: Debian's headless Chromium (driven by
Playwright) against the command itself on a tiny run. It uploads two demo images and reads
their rankings, shows the attention behind a class, describes a new class in the panel and
another by CSV, and reads the re-rankings, each against the library's own answer; any console
error fails it. A screenshot is saved.

Without a Chromium or Playwright the test skips, unless ``MGMRN_REQUIRE_DATA=1`` (CI, whose
``.ci/run`` installs Chromium): then it fails.
"""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from test_report_browser import chromium, unavailable, watched_page  # noqa: F401 - Debian's chromium, or skip / fail

from mgmrn.inference.classes import ClassSet
from mgmrn.inference.predictor import Predictor

# a class described in the panel (attribute, value), its first value then edited, and one given by
# a CSV, with a long name without spaces (it must not widen the page)
PANEL_CLASS, PANEL, EDITED = "panel_class", [("shape=circle", 2.0), ("texture=stripes", 1.0)], 3.0
CSV_CLASS, CSV = "csv_class_" + "x" * 150, {"shape=square": 1.0, "texture=dots": 1.0, "size=large": 0.5}


@pytest.fixture(scope="module")
def server(chromium: str, demo_run: Path, tmp_path_factory) -> Iterator[str]:
    """``mgmrn serve`` on the first tiny run, on a free port of 127.0.0.1: its address. The
    command runs in this process, its uvicorn loop in a thread (conftest's serving_here: what
    the page sees is the same; no second process loads torch and the run)."""
    if importlib.util.find_spec("fastapi") is None:
        unavailable('the serve extra is not installed (pip install -e ".[test]")')
    from conftest import serving_here

    with serving_here(demo_run, tmp_path_factory.mktemp("serve") / "serve.log") as served:
        yield served.url + "/"


def row(entry: dict[str, Any], probability: float) -> list[Any]:
    """A ranked class as the page shows it: ``[class, "91.2%", tag]``."""
    tag = "new" if entry["class"] in (PANEL_CLASS, CSV_CLASS) else "seen" if entry["seen"] else "unseen"
    return [entry["class"], f"{100 * probability:.1f}%", tag]


def expected(predictor: Predictor, images: list[Path], classes: ClassSet | None = None) -> list[list[list[Any]]]:
    """Per image, the library's top five classes (among ``classes``) as the page shows them."""
    return [[row(t, t["probability"]) for t in r["top"]] for r in predictor.predict(images, classes=classes)]


def expected_both(run: Predictor, defined: ClassSet, images: list[Path]) -> list[list[list[Any]]]:
    """The same among the run's classes (calibrated) and the defined ones: the five best of both
    rankings, with the softmax over all of them."""
    pages = []
    for image in images:
        ranked = [*run.predict([image], top_k=len(run.classes))[0]["top"],
                  *run.predict([image], top_k=len(defined), classes=defined)[0]["top"]]
        scores = np.array([t["score"] for t in ranked]) / run.temperature  # the run's, shared by new classes
        probabilities = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        pages.append([row(ranked[i], probabilities[i]) for i in np.argsort(-scores, kind="stable")[:5]])
    return pages


RANKINGS = """() => Array.from(document.querySelectorAll('.photo'), card =>
    Array.from(card.querySelectorAll('.ranking li'), li =>
        [li.dataset.class, li.querySelector('.probability').textContent, li.querySelector('.tag').textContent]))"""


def rankings_become(page: Any, want: list[list[list[Any]]]) -> list[list[list[Any]]]:
    """The page's rankings once they are ``want`` (they load in the background; a re-ranking
    may keep the order and change the probabilities), or as they are after a minute."""
    from playwright.sync_api import TimeoutError as Timeout

    try:
        page.wait_for_function(f"want => JSON.stringify(({RANKINGS})()) === JSON.stringify(want)", arg=want,
                               timeout=60_000)
    except Timeout:
        pass  # the assertion shows the difference
    return page.evaluate(RANKINGS)


def test_the_page_ranks_explains_and_reranks_among_new_classes(chromium: str, server: str,  # noqa: F811
                                                                demo_run: Path, tmp_path: Path):
    run = demo_run
    images = sorted((run.parent / "data").rglob("images/*/*.png"))[::40][:2]
    own = Predictor(run)
    attribute_names = own.attribute_names
    values = np.zeros((2, len(attribute_names)))
    for name, value in [(PANEL[0][0], EDITED), *PANEL[1:]]:  # as the panel's class is once edited
        values[0, attribute_names.index(name)] = value
    for name, value in CSV.items():
        values[1, attribute_names.index(name)] = value
    csv = tmp_path / "new_classes.csv"
    csv.write_text(f"class,{','.join(attribute_names)}\n{CSV_CLASS},{','.join(map(str, values[1]))}\n")
    with watched_page(chromium, server, 1280, 860) as (page, problems):
        page.wait_for_function("document.getElementById('run').textContent.includes('classes of the run')")
        page.set_input_files("#files", [str(p) for p in images])
        among_run = expected(own, images)
        assert rankings_become(page, among_run) == among_run

        page.locator(".photo").first.locator(".ranking li").nth(1).click()  # the attention behind a class
        drawing = page.locator(".photo").first.locator(".attention img")
        drawing.wait_for(timeout=60_000)
        assert page.evaluate("img => img.complete && img.naturalWidth > 100", drawing.element_handle())
        # at its own size (its 12 px labels readable), the card as wide as the row
        assert page.evaluate("img => img.clientWidth === img.naturalWidth", drawing.element_handle())
        assert "wide" in page.locator(".photo").first.get_attribute("class")

        listed = page.locator("#attribute-matches li:not(.group)")  # browsable without typing
        assert listed.count() == len(attribute_names)
        page.fill("#class-name", PANEL_CLASS)  # a new class in the panel: choose from the list, set values
        page.locator("#attribute-matches li", has_text=PANEL[0][0]).first.click()
        page.fill("#attribute-search", PANEL[1][0].replace("=", " "))  # or filter it first
        page.locator("#attribute-matches li", has_text=PANEL[1][0]).first.click()
        for i, (_, value) in enumerate(PANEL):
            page.locator("#chosen input").nth(i).fill(str(value))
        page.click("#define")
        page.set_input_files("#csv", str(csv))  # and one from a CSV
        page.wait_for_function("document.querySelectorAll('#defined > li').length === 2")
        panel_item = page.locator("#defined > li", has_text=PANEL_CLASS)
        assert panel_item.locator(".values li").all_text_contents() == [f"{n} = {v:g}" for n, v in PANEL]
        panel_item.locator("a", has_text="edit").click()  # edit: the form holds its values
        assert page.input_value("#class-name") == PANEL_CLASS
        assert [float(page.locator("#chosen input").nth(i).input_value()) for i in range(2)] == [v for _, v in PANEL]
        page.locator("#chosen input").first.fill(str(EDITED))
        page.click("#define")
        page.wait_for_function(f"document.querySelector('#defined').textContent.includes('{PANEL[0][0]} = {EDITED:g}')")
        defined = ClassSet.described(own.run, [PANEL_CLASS, CSV_CLASS], values)
        among_new = expected(own, images, defined)
        assert page.is_checked("input[name=among][value=defined]")
        assert rankings_become(page, among_new) == among_new

        assert page.text_content("#status") != ""
        page.check("input[name=among][value=both]")  # the new classes and the run's
        assert page.text_content("#status") == ""  # the ranking changed: the last action's line is gone
        both = expected_both(own, defined, images)
        assert rankings_become(page, both) == both
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # the long name wraps
        page.locator(".photo").first.locator(".ranking li").first.click()
        drawing.wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "serve.png"), full_page=True)
    assert problems == []
    assert (tmp_path / "serve.png").stat().st_size > 20_000


LISTED = "document.getElementById('run').textContent.includes('classes of the run')"
DEFINED = "() => Array.from(document.querySelectorAll('#defined li'), li => li.firstChild.textContent)"


def attribute_names(url: str) -> list[str]:
    with urllib.request.urlopen(url + "api/attributes", timeout=30) as answer:
        return json.load(answer)["attributes"]


def upload_csv(page: Any, path: Path, rows: list[tuple[str, float]], attributes: list[str]) -> None:
    """A class-attribute CSV chosen in the page's panel: each row's name and first value."""
    lines = [f"class,{','.join(attributes)}"] + [f'"{n}",{v}{",0" * (len(attributes) - 1)}' for n, v in rows]
    path.write_text("\n".join(lines) + "\n")
    page.set_input_files("#csv", str(path))


def test_the_page_survives_bad_definitions_and_deletes_any_name(chromium: str, server: str,  # noqa: F811
                                                                 tmp_path: Path):
    attributes = attribute_names(server)
    bad = [("x" * 10_000, 1.0, "at most 200 characters"), ("huge", 1e308, "values too large to normalise"),
           ("tab\there", 1.0, "control characters"), ("..", 1.0, "cannot be a class name")]
    good = ["a/b", "50% off", "why?#not", "..x", "back\\slash"]
    with watched_page(chromium, server, 1280, 860) as (page, problems):
        for name, value, problem in bad:
            page.wait_for_function(LISTED)
            before = page.evaluate(DEFINED)
            upload_csv(page, tmp_path / "bad.csv", [(name, value)], attributes)
            page.wait_for_function("problem => document.getElementById('status').textContent.includes(problem)",
                                   arg=problem)
            page.reload()  # the page loads and lists the classes, as before
            page.wait_for_function(LISTED)
            assert page.evaluate(DEFINED) == before
        upload_csv(page, tmp_path / "good.csv", [(name, 1.0) for name in good], attributes)
        page.wait_for_function("good => good.every(n => (" + DEFINED + ")().includes(n))", arg=good)
        for name in good:  # each deleted with its own button
            page.locator("#defined li", has_text=name).first.locator("button").click()
            page.wait_for_function(f"name => !({DEFINED})().includes(name)", arg=name)
    assert [p for p in problems if "status of 400" not in p] == []  # the refusals, and nothing else


def test_the_page_of_a_server_with_a_token_sends_it(chromium: str, token_served: Any):
    """The token server is shared with test_serve (conftest): the page only reads from it."""
    with watched_page(chromium, f"{token_served.url}/#token=s3cret", 1280, 860) as (page, problems):
        page.wait_for_function(LISTED)
        page.reload()  # kept for the tab without the address's token
        page.wait_for_function(LISTED)
        assert problems == []
        # a new page in a fresh context of the same browser (no storage shared): no token
        fresh = page.context.browser.new_page(viewport={"width": 1280, "height": 860})
        fresh.goto(f"{token_served.url}/", wait_until="load")
        fresh.wait_for_function("document.getElementById('status').textContent.includes('needs its token')")


def test_a_class_being_described_survives_the_re_ranking_after_the_last_definition(  # noqa: F811
        chromium: str, server: str, demo_run: Path):
    """The form is cleared once a definition is stored, never later: what the user types while
    the photos are re-ranked stays (each ranking request is held back until the check)."""
    held: list[Any] = []
    image = sorted((demo_run.parent / "data").rglob("images/*/*.png"))[0]
    with watched_page(chromium, server, 1280, 860) as (page, problems):
        page.wait_for_function(LISTED)
        page.set_input_files("#files", [str(image)])
        page.wait_for_function("document.querySelectorAll('.ranking li').length > 0")
        page.route("**/api/predict", lambda route: held.append(route))
        page.fill("#class-name", "first_class")
        page.locator("#attribute-matches li:not(.group)").first.click()
        page.click("#define")
        page.wait_for_function("document.getElementById('defined').textContent.includes('first_class')")
        page.wait_for_timeout(200)  # the re-ranking's request is out, and held
        page.fill("#class-name", "second_class")  # the next class, begun before the re-ranking ends
        assert held, "the re-ranking sent no request"
        for route in held:
            route.continue_()
        page.unroute("**/api/predict")
        page.wait_for_function("document.querySelector('.ranking li[data-class=first_class]')")  # re-ranked
        page.wait_for_timeout(300)
        assert page.input_value("#class-name") == "second_class"
        page.locator("#defined li", has_text="first_class").first.locator("button").click()
        page.wait_for_function("!document.getElementById('defined').textContent.includes('first_class')")
    assert problems == []
