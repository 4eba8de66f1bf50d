"""Every dashboard in a real browser: log in, open it, wait for its charts, find no errors, screenshot.

Runs Debian's headless Chromium (the `browser` fixture) against the session's Superset
(`superset_session` in `tests/superset_fixtures.py`). Screenshots land in
`$MMR_SCREENSHOTS` or `var/screenshots/<slug>.png` of the project.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from dagster_project.ops import superset
from dagster_project.settings import PROJECT_ROOT, Settings

ASSETS = PROJECT_ROOT / "superset" / "assets"
SCREENSHOTS = Path(os.environ.get("MMR_SCREENSHOTS") or PROJECT_ROOT / "var" / "screenshots")
CHART_TIMEOUT = 180.0
# What Superset renders when a chart or the dashboard fails.
ERROR_SELECTORS = [
    ".ant-alert-error",
    "[data-test='error-tooltip']",
    "[data-test='query-error-tooltip-trigger']",
    ".alert-danger",
]
ERROR_TEXTS = [
    "Unexpected error",
    "Onverwachte fout",
    "An error occurred",
    "No results were returned",
    "Geen resultaten",
]

pytestmark = [pytest.mark.superset, pytest.mark.browser]


def dashboards() -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted((ASSETS / "dashboards").glob("*.yaml"))]


def first_tab_charts(dashboard: dict) -> int:
    """Charts visible on opening: everything not inside a tab other than the first of its tab group."""
    position = dashboard["position"]
    hidden_tabs = {
        tab
        for node in position.values()
        if isinstance(node, dict) and node.get("type") == "TABS"
        for tab in node["children"][1:]
    }
    return sum(
        1
        for node in position.values()
        if isinstance(node, dict) and node.get("type") == "CHART" and not hidden_tabs & set(node.get("parents", []))
    )


def wait_for_charts(page, expected: int, timeout: float = CHART_TIMEOUT) -> tuple[int, int]:
    """Wait until `expected` charts are drawn and nothing loads, three polls in a row (filters that
    select their first value re-run every chart once they have loaded); the last counts."""
    deadline = time.monotonic() + timeout
    stable = 0
    while True:
        rendered = page.locator("[data-test='chart-container']").count()
        loading = page.locator("[data-test='dashboard-content-wrapper'] [data-test='loading-indicator']").count()
        stable = stable + 1 if rendered >= expected and loading == 0 else 0
        if stable >= 3 or time.monotonic() > deadline:
            page.wait_for_timeout(1000)  # animations (ECharts, deck.gl) settle
            return rendered, loading
        page.wait_for_timeout(700)


@pytest.fixture(scope="module")
def page(browser, superset_session: Settings):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Chromium is missing: make browser-deps")
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="nl-NL")
    page = context.new_page()
    base = superset.url(superset_session)
    page.goto(f"{base}/login/")
    page.fill("input[name='username'], #username", "admin")
    page.fill("input[name='password'], #password", superset.admin_password(superset_session))
    page.click("button[type='submit'], input[type='submit']")
    page.wait_for_url(lambda url: "/login" not in url, timeout=60_000)
    yield page
    context.close()


def test_anonymous_browser_is_sent_to_login(browser, superset_session: Settings) -> None:
    context = browser.new_context()
    try:
        anonymous = context.new_page()
        anonymous.goto(f"{superset.url(superset_session)}/superset/dashboard/wijkprofiel/")
        assert "/login" in anonymous.url
    finally:
        context.close()


@pytest.mark.parametrize("dashboard", dashboards(), ids=lambda d: d["slug"])
def test_dashboard_renders_without_errors(page, superset_session: Settings, dashboard: dict) -> None:
    base = superset.url(superset_session)
    page.goto(f"{base}/superset/dashboard/{dashboard['slug']}/")
    page.wait_for_selector("[data-test='dashboard-content-wrapper']", timeout=60_000)
    expected = first_tab_charts(dashboard)
    rendered, loading = wait_for_charts(page, expected)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{dashboard['slug']}.png"
    page.screenshot(path=str(shot), full_page=True)

    assert rendered >= expected, f"{dashboard['dashboard_title']}: {rendered} of {expected} charts rendered ({shot})"
    assert loading == 0, f"{dashboard['dashboard_title']}: charts still loading after {CHART_TIMEOUT:.0f}s ({shot})"
    for selector in ERROR_SELECTORS:
        assert page.locator(selector).count() == 0, f"{dashboard['dashboard_title']}: {selector} on the page ({shot})"
    text = page.inner_text("body")
    for message in ERROR_TEXTS:
        assert message not in text, f"{dashboard['dashboard_title']}: '{message}' on the page ({shot})"
    assert dashboard["dashboard_title"] in text
    assert shot.stat().st_size > 20_000
