"""A dashboard in a real browser as one user: sign in, open it with its default filters, wait for
its charts, read what each chart shows, screenshot.

Debian's headless Chromium (the `browser` fixture of tests/conftest.py) against a running Superset.
ECharts draws on a canvas, so the page records the text every canvas draws (`fillText`) and the
checks read that too. Screenshots land in `$MMR_SCREENSHOTS` or `var/screenshots/<user>/<slug>.png`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dagster_project.ops import superset
from dagster_project.settings import PROJECT_ROOT, Settings

ASSETS = PROJECT_ROOT / "superset" / "assets"
SCREENSHOTS = Path(os.environ.get("MMR_SCREENSHOTS") or PROJECT_ROOT / "var" / "screenshots")
CHART_TIMEOUT = 180.0
LOGIN_TIMEOUT_MS = 90_000
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
    "Content Security Policy",
]
# What MMR's Dutch language pack shows where Superset has no figure (`EMPTY_STATE_NL` in
# superset/superset_config.py): the source is not delivered, or the count is too small.
EMPTY_STATE_TEXTS = ["Geen cijfer: niet geleverd", "Geen cijfers voor deze selectie"]
# Superset's own texts for a chart without a figure, and MMR's reasons: on the demo, where every
# source is delivered, a chart must show its figure or a reason of its own instead.
NO_DATA_TEXTS = [
    "No data",
    "Geen data",
    "No results were returned",
    "Er zijn geen resultaten gevonden",
    "Geen resultaten",
    *EMPTY_STATE_TEXTS,
]
PERCENTAGE = re.compile(r"(-?\d{1,3}(?:\.\d{3})+(?:,\d+)?|-?\d+(?:,\d+)?)\s?%")
RAW_KEY = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
# Percentages that are not shares of a whole and may exceed 100 %.
NOT_A_SHARE = {"Realisatie van budget"}

# Records the text each canvas draws, cleared when the canvas is cleared (a redraw).
RECORD_CANVAS_TEXT = """
(() => {
  const proto = CanvasRenderingContext2D.prototype;
  const fillText = proto.fillText;
  const clearRect = proto.clearRect;
  proto.fillText = function (text, ...rest) {
    (this.canvas.__mmrTexts = this.canvas.__mmrTexts || []).push(String(text));
    return fillText.call(this, text, ...rest);
  };
  proto.clearRect = function (x, y, ...rest) {
    if (x <= 0 && y <= 0) this.canvas.__mmrTexts = [];
    return clearRect.call(this, x, y, ...rest);
  };
})();
"""
CHART_TEXTS = """
holders => holders.map(holder => ({
  title: (holder.querySelector("[data-test='editable-title'], .header-title") || {}).innerText || '',
  text: holder.innerText,
  canvas: [...holder.querySelectorAll('canvas')].flatMap(c => c.__mmrTexts || []).join('\\n'),
  drawn: holder.querySelectorAll('canvas, svg path, table td').length,
  visible: holder.getBoundingClientRect().height > 0,
}))
"""


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
            page.wait_for_timeout(1500)  # animations (ECharts, deck.gl) settle
            return rendered, loading
        page.wait_for_timeout(700)


def dutch_number(text: str) -> float:
    return float(text.replace(".", "").replace(",", "."))


def chart_problems(chart: dict) -> list[str]:
    """What is wrong with one rendered chart: no figure and no reason, a share above 100 %, a raw key."""
    title, shown = chart["title"], f"{chart['text']}\n{chart['canvas']}"
    figure = shown.replace(title, "").strip()
    if not chart.get("visible", True) or not (figure or chart.get("drawn")):
        return [f"{title or 'a chart'}: nothing drawn"]
    problems = [f"{title}: shows '{text}'" for text in NO_DATA_TEXTS if text in shown]
    if title not in NOT_A_SHARE:
        problems += [
            f"{title}: share {match.group(0)} above 100 %"
            for match in PERCENTAGE.finditer(shown)
            if dutch_number(match.group(1)) > 100
        ]
    problems += [f"{title}: raw key '{key}' in a label" for key in sorted(set(RAW_KEY.findall(shown)))]
    return problems


@contextmanager
def signed_in(browser, settings: Settings, username: str, password: str) -> Iterator:
    """A page of a fresh browser context, signed in to Superset as `username`."""
    # taller than every dashboard: Superset draws only the charts in view, and a full-page screenshot
    # resizes the page and catches every chart redrawing (a grey page)
    context = browser.new_context(viewport={"width": 1600, "height": 3000}, locale="nl-NL")
    context.add_init_script(RECORD_CANVAS_TEXT)
    page = context.new_page()
    try:
        sign_in(page, settings, username, password)
        page.mmr_user = username
        yield page
    finally:
        context.close()


def sign_in(page, settings: Settings, username: str, password: str, attempts: int = 2) -> None:
    """Submit the login form; a busy Superset gets a second try, and a refusal says what the page
    and Superset's log showed."""
    for attempt in range(1, attempts + 1):
        page.goto(f"{superset.url(settings)}/login/", timeout=LOGIN_TIMEOUT_MS)
        page.fill("input[name='username'], #username", username)
        page.fill("input[name='password'], #password", password)
        page.click("button[type='submit'], input[type='submit']")
        try:
            page.wait_for_url(lambda url: "/login" not in url, timeout=LOGIN_TIMEOUT_MS)
            return
        except PlaywrightTimeout:
            if attempt == attempts:
                shown = page.inner_text("body")[:400] if "/login" in page.url else page.url
                log = superset.log_file(settings)
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
                raise AssertionError(
                    f"{username} is not signed in after {attempts} tries of {LOGIN_TIMEOUT_MS / 1000:.0f} s; "
                    f"the page shows: {shown!r}\nSuperset's log ends:\n{tail}"
                ) from None


@dataclass
class Opened:
    """A dashboard as the browser shows it once its charts have settled."""

    where: str
    expected: int
    rendered: int
    loading: int
    charts: list[dict]
    text: str
    errors: list[str]
    screenshot: Path


def open_dashboard(page, settings: Settings, dashboard: dict, shots: Path = SCREENSHOTS) -> Opened:
    page.goto(f"{superset.url(settings)}/superset/dashboard/{dashboard['slug']}/")
    page.wait_for_selector("[data-test='dashboard-content-wrapper']", timeout=60_000)
    expected = first_tab_charts(dashboard)
    rendered, loading = wait_for_charts(page, expected)
    charts = page.locator("[data-test='dashboard-component-chart-holder']").evaluate_all(CHART_TEXTS)
    shot = shots / page.mmr_user / f"{dashboard['slug']}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))  # the viewport holds the whole dashboard; no resize, no redraw
    text = page.inner_text("body")
    errors = [selector for selector in ERROR_SELECTORS if page.locator(selector).count()]
    errors += [message for message in ERROR_TEXTS if message in text]
    where = f"{dashboard['dashboard_title']} as {page.mmr_user} ({shot})"
    return Opened(where, expected, rendered, loading, charts, text, errors, shot)


def assert_settled(opened: Opened, title: str) -> None:
    """Every chart of the first tab drawn, none loading, no error, the title shown."""
    assert opened.rendered >= opened.expected, f"{opened.where}: {opened.rendered} of {opened.expected} charts"
    assert opened.loading == 0, f"{opened.where}: charts still loading after {CHART_TIMEOUT:.0f}s"
    assert not opened.errors, f"{opened.where}: {opened.errors}"
    assert title in opened.text
    assert len(opened.charts) >= opened.expected, f"{opened.where}: {len(opened.charts)} chart holders"
    assert opened.screenshot.stat().st_size > 20_000
