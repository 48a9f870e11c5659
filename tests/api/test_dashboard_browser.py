"""The console in a real browser: headless Debian Chromium driven by Playwright, over a real
`flows serve` on a seeded database (tests/api/conftest.py: three meters, one unhealthy, one
with a low balance, four days of usage from 28 March 2025 — the clocks change on the 30th).
Screenshots are kept in test-artifacts/console/; no request may leave for another host; axe-core (shipped
in the axe-playwright-python wheel) checks each page's accessibility."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.api.conftest import READ_KEY, Served

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# This machine's network is closed: no background connections, no sandbox as root.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """Where the screenshots are kept after the run (CI can upload the folder)."""
    folder = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def console(browser: Browser, served: Served) -> Iterator[Page]:
    """A logged-in page; the test fails if anything is asked of another host."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    elsewhere: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(served.url)
            else elsewhere.append(request.url))
    log_in(page, served)
    yield page
    context.close()
    assert elsewhere == []


def log_in(page: Page, served: Served) -> None:
    page.goto(f"{served.url}/")
    page.fill("input[name=key]", READ_KEY)
    page.click("text=Log in >> nth=-1")
    page.wait_for_selector("#counts")


def accessible(page: Page) -> None:
    """No accessibility violation axe-core finds (contrast, names, labels, landmarks, ...)."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_log_in_and_out(browser: Browser, served: Served, artifacts: Path) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{served.url}/")
        assert page.url == f"{served.url}/login"  # no session: the login form
        accessible(page)
        page.fill("input[name=key]", "not-a-key-at-all")
        page.click("text=Log in >> nth=-1")
        assert "not known" in page.locator("#problem").inner_text()
        page.fill("input[name=key]", READ_KEY)
        page.click("text=Log in >> nth=-1")
        page.wait_for_selector("#counts")
        (cookie,) = page.context.cookies()
        assert cookie["name"] == "flows_session" and cookie["value"] != READ_KEY
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert 0 < cookie["expires"] - time.time() <= 8 * 3600 + 60
        page.click("text=Log out")
        assert page.url == f"{served.url}/login"  # the login form's CSRF cookie only:
        assert [cookie["name"] for cookie in page.context.cookies()] == ["flows_csrf"]
        page.goto(f"{served.url}/ui/meters/EML0001")
        assert page.url == f"{served.url}/login"  # the session is over
    finally:
        page.close()


def test_every_card_drills_down_to_its_list(console: Page, served: Served,
                                            artifacts: Path) -> None:
    console.screenshot(path=str(artifacts / "overview.png"), full_page=True)
    assert "Usage data as of" in console.locator("#data-as-of").inner_text()
    assert "EML0002" in console.locator("#unhealthy").inner_text()
    assert "£3.20" in console.locator("#low-balance").inner_text()  # money, not 3.2
    accessible(console)
    expected = {"active": {"EML0000", "EML0001", "EML0002"}, "healthy": {"EML0000", "EML0001"},
                "unhealthy": {"EML0002"}, "low_balance": {"EML0001"}, "never_synced": set(),
                "clock_drift": set(), "no_usage": set()}
    states = console.locator("[data-count]").evaluate_all(
        "cards => cards.map(card => card.dataset.count)")
    assert {"active", "unhealthy", "offline", "missing_half_hours"} <= set(states)
    for state in states:
        console.goto(f"{served.url}/")
        count = int(console.locator(f"[data-count={state}] b").inner_text().replace(",", ""))
        console.click(f"[data-count={state}] a")
        console.wait_for_selector("#total")
        assert console.url.endswith(f"/ui/meters?state={state}")
        assert int(console.locator("#total").get_attribute("data-total") or -1) == count, state
        listed = set(console.locator("#meters tbody tr td:first-child").all_inner_texts())
        assert len(listed) == count
        if state in expected:
            assert listed == expected[state], state
        assert console.locator("#auto-refresh").is_checked()  # auto-refresh, stoppable
        assert "Usage data as of" in console.locator("#data-as-of").inner_text()


def test_lists_sort_search_filter_and_page(console: Page, served: Served,
                                           artifacts: Path) -> None:
    serial_cells = console.locator("#meters tbody tr td:first-child")
    total = console.locator("#total")

    def shows(*serials: str) -> None:
        # Retried until the page that a click or a form loads shows them (or 5 s pass): a
        # click starts the navigation, it does not wait for the new page's table.
        expect(serial_cells).to_have_text(list(serials))

    console.goto(f"{served.url}/ui/meters")
    shows("EML0000", "EML0001", "EML0002")
    console.click("#meters th >> text=Balance")  # sort by balance, lowest first
    shows("EML0001", "EML0000", "EML0002")  # no balance: last either way
    console.click("#meters th >> text=Balance")  # again: highest first
    shows("EML0000", "EML0001", "EML0002")
    expect(console.locator("#meters th[aria-sort=descending]")).to_contain_text("Balance")
    accessible(console)
    console.screenshot(path=str(artifacts / "list.png"), full_page=True)

    console.fill("input[name=q]", "ml0001")  # part of a serial, any case
    console.click("form.filters button")
    shows("EML0001")
    expect(total).to_contain_text("1 meters")
    console.goto(f"{served.url}/ui/meters")
    console.select_option("select[name=health]", "unhealthy")
    console.click("form.filters button")
    shows("EML0002")
    console.select_option("select[name=health]", "")
    console.select_option("select[name=esco]", "ESCO1")
    console.click("form.filters button")
    expect(serial_cells).to_have_count(3)

    console.goto(f"{served.url}/ui/meters?size=2")
    expect(total).to_contain_text("1–2 of 3")
    shows("EML0000", "EML0001")
    console.click("a[rel=next]")
    expect(total).to_contain_text("3–3 of 3")
    shows("EML0002")
    expect(console.locator("nav.pages")).to_contain_text("Page 2 of 2")
    expect(console.locator("a[rel=next]")).to_have_count(0)
    console.click("a[rel=prev]")
    shows("EML0000", "EML0001")


def test_meter_page_facts_charts_and_period_picker(console: Page, served: Served,
                                                   artifacts: Path) -> None:
    console.click("#low-balance >> text=EML0001")  # the session travels in the cookie
    console.wait_for_selector("#import-chart")
    assert console.title().startswith("Meter EML0001")
    facts = console.locator("#facts").inner_text()
    for label in ("Health", "Last healthy sync", "Balance", "Signal quality (CSQ)", "Clock drift",
                  "Esco", "Hardware"):
        assert label in facts
    assert "£3.20" in facts and "health_details" not in facts
    time_element = console.locator("#facts time").first
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", time_element.get_attribute("title") or "")
    assert "C1" in console.locator("#customer-links").inner_text()
    assert console.locator("#registers tbody tr").count() == 4  # A/B × import/export
    accessible(console)
    console.screenshot(path=str(artifacts / "meter-week.png"), full_page=True)

    # The default week ends with the meter's latest data (1 April): daily bars, ticks, units.
    assert "26 Mar 2025 – 01 Apr 2025" in console.locator("#period-label").inner_text()
    week_bars = console.locator("#import-chart g.bar")
    assert week_bars.count() >= 4
    axis_text = console.locator("#import-chart svg text").all_text_contents()
    assert "kWh" in axis_text and any(re.fullmatch(r"\d\d \w{3}", t) for t in axis_text)
    assert any(re.fullmatch(r"0\.\d{3}", t) for t in axis_text)  # value ticks
    hover = week_bars.first.locator("title").text_content() or ""
    assert "actual" in hover and "missing" in hover  # the API's quality counts
    box = week_bars.nth(1).locator("rect").bounding_box()
    assert box is not None and box["height"] > 10  # drawn, not just present
    assert console.locator("#export-chart g.bar").count() >= 4

    # A day: half-hourly bars; the 30th is the clocks' change day: 46 half hours.
    console.click("#period >> text=Day")
    assert "Tuesday 01 April 2025" in console.locator("#period-label").inner_text()
    console.click("#period >> text=← Previous")
    console.click("#period >> text=← Previous")
    assert "Sunday 30 March 2025" in console.locator("#period-label").inner_text()
    bars = console.locator("#import-chart g.bar")
    assert bars.count() == 46
    starts = bars.evaluate_all("bars => bars.map(bar => bar.dataset.start)")
    assert starts[0].startswith("2025-03-30T00:00") and starts[-1].startswith("2025-03-30T22:30")
    console.click("#period >> text=Next →")
    assert console.locator("#import-chart g.bar").count() == 48
    console.click("#period >> text=Month")  # the month of the day shown
    assert "March 2025" in console.locator("#period-label").inner_text()
    assert console.locator("#import-chart g.bar").count() == 4  # 28–31 March
    console.click("#period >> text=Next →")
    assert "April 2025" in console.locator("#period-label").inner_text()
    assert console.locator("#import-chart g.bar").count() == 1  # the first hour of 1 April
    console.fill("input[name=from]", "2025-03-29")
    console.fill("input[name=to]", "2025-03-30")
    console.click("form.picker button")
    assert console.locator("#import-chart g.bar").count() == 2
    console.screenshot(path=str(artifacts / "meter-custom.png"), full_page=True)


def test_error_pages_are_pages(console: Page, served: Served, artifacts: Path) -> None:
    answer = console.goto(f"{served.url}/ui/meters/EML9999")
    assert answer is not None and answer.status == 404
    assert "no meter with serial 'EML9999'" in console.locator("#problem").inner_text()
    assert console.locator("a >> text=Back to fleet health").count() == 1
    console.screenshot(path=str(artifacts / "not-found.png"))
    answer = console.goto(f"{served.url}/ui/meters/EML0001?period=custom&from=2025-03-30&to=2025-03-01")
    assert answer is not None and answer.status == 422
    assert "ends (2025-03-01) before it starts" in console.locator("#problem").inner_text()
    answer = console.goto(f"{served.url}/ui/meters?page=0")
    assert answer is not None and answer.status == 422
    assert "page" in console.locator("#problem").inner_text()
    answer = console.goto(f"{served.url}/ui/nothing-here")
    assert answer is not None and answer.status == 404
    assert console.locator("h1").inner_text() == "Not found"


def test_usable_on_a_phone(browser: Browser, served: Served, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        log_in(page, served)
        for name, path in (("overview", "/"), ("list", "/ui/meters"),
                           ("meter", "/ui/meters/EML0001")):
            page.goto(f"{served.url}{path}")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)  # wide tables scroll inside their own box
            page.screenshot(path=str(artifacts / f"phone-{name}.png"), full_page=True)
    finally:
        context.close()


def test_api_docs_load_from_flows_itself(served: Served, browser: Browser) -> None:
    """Swagger UI renders with every request answered by Flows (no CDN), with the schemes to
    authorize with."""
    page = browser.new_page()
    try:
        elsewhere: list[str] = []
        page.on("request", lambda request: None if request.url.startswith(served.url)
                else elsewhere.append(request.url))
        page.goto(f"{served.url}/docs")
        page.wait_for_selector(".opblock-summary-path")
        assert page.locator("button.authorize").count() == 1
        assert elsewhere == []
    finally:
        page.close()
