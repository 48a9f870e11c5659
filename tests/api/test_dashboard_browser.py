"""The dashboard in a real browser: headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import shutil
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
            response = page.goto(f"{served.url}/?key={READ_KEY}")
            assert response is not None and response.status == 200
            assert page.locator("[data-count=healthy] b").inner_text() == "2"
            assert "EML0002" in page.locator("#unhealthy").inner_text()
            assert "failed to connect" in page.locator("#unhealthy").inner_text()
            assert "EML0001" in page.locator("#low-balance").inner_text()
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

            page.click("#meters >> text=EML0001")  # the key now travels in the cookie
            page.wait_for_selector("#daily-chart")
            assert page.title().startswith("Meter EML0001")
            daily = page.locator("#daily-chart rect.bar")
            half_hours = page.locator("#hh-chart rect.bar")
            assert daily.count() >= 4 and half_hours.count() == 96
            assert float(daily.first.get_attribute("data-kwh") or 0) > 0
            box = half_hours.nth(10).bounding_box()
            assert box is not None and box["height"] > 0  # drawn, not just present
            page.screenshot(path=str(tmp_path / "meter.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    assert (tmp_path / "meter.png").stat().st_size > 10_000
