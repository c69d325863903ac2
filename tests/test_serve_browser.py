"""`scraper serve` in a real browser: Debian's Chromium driven by Playwright (pointed at the
system browser; .ci/run installs it). From the list to a diff, and a hostile page that must run
nothing."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FAST_FLAGS, scraper_cli
from tests.served import HOSTILE, fill, serving
from tests.server import LocalServer, Response
from tests.test_notify import ADDED, _article

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: apt-get install chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOT = os.environ.get("SCRAPER_SCREENSHOT")
"""Where to keep the diff view's screenshot as well (the README's picture is made so)."""


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright.Browser]:
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=60_000)
        try:
            yield launched
        finally:
            launched.close()


def test_from_the_list_to_the_diff(browser: playwright.Browser, tmp_path: Path, db_path: Path) -> None:
    with LocalServer() as site:
        urls = [site.set("/city/harbour-bridge", Response(_article("Harbour bridge to close for repairs"))),
                site.set("/city/tunnel", Response(_article("Tunnel works begin"))),
                site.set("/city/market", Response(_article("Covered market reopens")))]
        listing = tmp_path / "urls.txt"
        listing.write_text("\n".join(urls) + "\n")
        assert scraper_cli("run", str(listing), *FAST_FLAGS).returncode == 0
        site.set("/city/harbour-bridge", Response(_article("Harbour bridge to close for repairs", edited=True)))
        assert scraper_cli("run", str(listing), *FAST_FLAGS).returncode == 0
    with serving(db_path) as (base, _):
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(30_000)
        page.goto(base + "/")
        assert page.locator("table.pages tbody tr").count() == 3
        page.fill("input[name=q]", "cyclists")
        page.press("input[name=q]", "Enter")
        page.wait_for_url("**/?q=cyclists")
        results = page.locator("table.pages a.page")
        assert results.count() == 1
        results.first.click()
        page.wait_for_url("**/pages/*")
        assert page.locator("h1").inner_text() == "Harbour bridge to close for repairs"
        page.locator("a.diff", has_text="changes from v1").first.click()
        page.wait_for_url("**/diff?from=1&to=2")
        inserted = page.locator(".diff.inline ins", has_text=ADDED)
        assert inserted.count() == 1
        assert page.locator(".side-by-side ins", has_text=ADDED).count() == 1
        assert page.locator(".diff.inline del", has_text="March").count() == 1
        background = inserted.evaluate("element => getComputedStyle(element).backgroundColor")
        assert background not in ("rgba(0, 0, 0, 0)", "transparent")  # highlighted
        shot = page.screenshot(path=str(tmp_path / "diff-view.png"), full_page=True)
        assert shot.startswith(b"\x89PNG")
        if SCREENSHOT:
            Path(SCREENSHOT).write_bytes(shot)
        page.close()


def test_a_hostile_page_runs_nothing_and_reaches_nothing(browser: playwright.Browser, tmp_path: Path) -> None:
    with LocalServer() as canary:
        path = tmp_path / "archive.db"
        fill(path, canary=canary.base)
        with serving(path) as (base, _):
            page = browser.new_page()
            page.set_default_timeout(30_000)
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(base + "/pages.json")
            page_id = next(row["id"] for row in page.evaluate("() => JSON.parse(document.body.innerText)")["pages"]
                           if row["url"] == HOSTILE)
            views = ["/", "/?q=breaking", f"/pages/{page_id}", f"/pages/{page_id}/versions/1",
                     f"/pages/{page_id}/versions/1/snapshot", f"/pages/{page_id}/diff?from=1&to=1", "/runs/1"]
            for view in views:
                page.goto(base + view)
                page.wait_for_load_state("networkidle")
                if view.endswith("/snapshot"):  # the HTML as fetched, alone: its links are the page's own
                    page.locator("a", has_text="js").click()
                    continue
                hrefs = page.eval_on_selector_all("a[href]", "links => links.map(link => link.href)")
                assert all(href.startswith(("http://", "https://", "mailto:")) for href in hrefs), (view, hrefs)
                for element in page.locator("text=click me").all():
                    element.click()
            page.goto(base + f"/pages/{page_id}/versions/1")
            page.wait_for_load_state("networkidle")
            frame = page.frame_locator("iframe.snapshot")
            frame.locator("a", has_text="js").click()
            frame.locator("button", has_text="go").click()
            page.locator("h1").first.hover()
            time.sleep(2)  # anything that would fire late (a refresh, a load event) has had its chance
            assert dialogs == []
            assert canary.log == []
            page.close()
