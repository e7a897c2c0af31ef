"""The dashboard in a real browser: Playwright driving Debian's Chromium.

Starts an approval run from the page, sees its nodes light up in order,
answers the interrupt from the page and sees the run complete. Screenshots go
to the test's tmp dir (and to ``$SENTIENT_DASHBOARD_PNG`` when set, which is
how ``docs/dashboard.png`` is made).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.server.conftest import RunningServer, served

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def need_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"no browser at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: .ci/run installs it)")
    pytest.skip(message)


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with served("dashboard") as running:
        yield running


@pytest.mark.slow
def test_dashboard_runs_and_answers_an_approval(server: RunningServer, tmp_path: Path) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 820})
            page.goto(server.url + "/")
            page.wait_for_selector("#graph option[value=approval]", state="attached")
            page.select_option("#graph", "approval")
            page.wait_for_selector("#node-draft")
            page.fill("#input", '{"topic": "the dashboard"}')
            page.click("#start")

            page.wait_for_selector("#interrupt:not([hidden])", timeout=30_000)
            assert "Publish this draft?" in page.inner_text("#interrupt-value")
            assert "done" in page.get_attribute("#node-draft", "class")
            assert "waiting" in page.get_attribute("#node-approval", "class")
            page.screenshot(path=str(tmp_path / "interrupted.png"))

            page.fill("#answer", '"approve"')
            page.click("#send-answer")
            page.wait_for_function(
                "document.querySelector('#run-status').textContent === 'completed'",
                timeout=30_000,
            )
            page.wait_for_selector("#node-publish.done")
            assert page.evaluate("window.__sentient.lit") == ["draft", "approval", "publish"]
            assert page.locator("#events li[data-type=run_completed]").count() == 1
            assert page.locator("#history li").count() >= 4
            page.wait_for_function(
                "document.querySelector('#threads').innerText.includes('completed')"
            )
            # The event stream's filters: only node_started of publish.
            total = page.locator("#events li").count()
            page.select_option("#f-type", "node_started")
            page.fill("#f-node", "publish")
            assert page.locator("#events li").count() == 1
            page.select_option("#f-type", "")
            page.fill("#f-node", "")
            assert page.locator("#events li").count() == total
            shot = tmp_path / "completed.png"
            page.screenshot(path=str(shot))
            target = os.environ.get("SENTIENT_DASHBOARD_PNG")
            if target:
                shutil.copy(shot, target)
        finally:
            browser.close()
