"""The dashboard in a real browser: headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.api.conftest import READ_KEY, Served

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# This machine's network is closed: no background connections, no sandbox as root.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_dashboard_and_meter_page_show_health_and_charts(served: Served, tmp_path: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"{served.url}/")
            assert page.url == f"{served.url}/login"  # no session: the login form
            page.fill("input[name=key]", "not-a-key-at-all")
            page.click("text=Log in >> nth=-1")
            assert "not known" in page.locator("#problem").inner_text()
            page.fill("input[name=key]", READ_KEY)
            page.click("text=Log in >> nth=-1")
            page.wait_for_selector("[data-count=healthy]")
            (cookie,) = page.context.cookies()
            assert cookie["name"] == "flows_session" and cookie["value"] != READ_KEY
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert 0 < cookie["expires"] - time.time() <= 8 * 3600 + 60
            assert page.locator("[data-count=healthy] b").inner_text() == "2"
            assert "EML0002" in page.locator("#unhealthy").inner_text()
            assert "failed to connect" in page.locator("#unhealthy").inner_text()
            assert "EML0001" in page.locator("#low-balance").inner_text()
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

            page.click("#meters >> text=EML0001")  # the session travels in the cookie
            page.wait_for_selector("#daily-chart")
            assert page.title().startswith("Meter EML0001")
            daily = page.locator("#daily-chart rect.bar")
            half_hours = page.locator("#hh-chart rect.bar")
            assert daily.count() >= 4 and half_hours.count() == 96
            assert float(daily.first.get_attribute("data-kwh") or 0) > 0
            box = half_hours.nth(10).bounding_box()
            assert box is not None and box["height"] > 0  # drawn, not just present
            page.screenshot(path=str(tmp_path / "meter.png"), full_page=True)
            page.click("text=Log out")
            assert page.url == f"{served.url}/login"  # the login form's CSRF cookie only:
            assert [cookie["name"] for cookie in page.context.cookies()] == ["flows_csrf"]
            page.goto(f"{served.url}/ui/meters/EML0001")
            assert page.url == f"{served.url}/login"  # the session is over
        finally:
            browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    assert (tmp_path / "meter.png").stat().st_size > 10_000


def test_api_docs_load_from_flows_itself(served: Served) -> None:
    """Swagger UI renders with every request answered by Flows (no CDN), with the schemes to
    authorize with."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page()
            elsewhere: list[str] = []
            page.on("request", lambda request: None if request.url.startswith(served.url)
                    else elsewhere.append(request.url))
            page.goto(f"{served.url}/docs")
            page.wait_for_selector(".opblock-summary-path")
            assert page.locator("button.authorize").count() == 1
            assert elsewhere == []
        finally:
            browser.close()
