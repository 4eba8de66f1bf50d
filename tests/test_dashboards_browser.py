"""Every dashboard in a real browser, as every kind of user: log in, open it with its default filters,
wait for its charts, read what each chart shows, screenshot (`tests/browser_pages.py`).

Runs against the session's Superset (`superset_session` in `tests/superset_fixtures.py`) as
`admin`, as the regional user and as the users of two gemeente roles. A chart fails when it shows
an error, Superset's own no-data text or MMR's empty-state reason instead of a figure (every source
of the demo is delivered), a share above 100 %, or a raw column key.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dagster_project.ops import superset
from dagster_project.settings import Settings
from tests.browser_pages import assert_settled, chart_problems, dashboards, open_dashboard, signed_in

pytestmark = [pytest.mark.superset, pytest.mark.browser]


def current_gemeenten(serving_db: Path) -> list[str]:
    """Gemeenten that exist in the latest year with data: the dashboards open on that year (a
    gemeente that merged away earlier, Brielle into Voorne aan Zee, belongs to its successor)."""
    with duckdb.connect(str(serving_db), read_only=True) as con:
        rows = con.execute(
            "select distinct gemeente_code from main.wijk_kerncijfers "
            "where year = (select max(year) from main.wijk_kerncijfers) order by 1"
        ).fetchall()
    return [code for (code,) in rows]


def users(settings: Settings) -> dict[str, str]:
    """Username and password of admin, the regional user and the users of two gemeente roles."""
    names = ["regio_analist"] + [f"beleid_{code.lower()}" for code in current_gemeenten(settings.serving_db)[:2]]
    passwords = {name: (settings.superset_home / "passwords" / name).read_text().strip() for name in names}
    return {"admin": superset.admin_password(settings), **passwords}


USERS = ["admin", "regio", "gemeente_1", "gemeente_2"]


@pytest.fixture(scope="module", params=USERS)
def page(request, browser, superset_session: Settings):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Chromium is missing: make browser-deps")
    username, password = list(users(superset_session).items())[USERS.index(request.param)]
    with signed_in(browser, superset_session, username, password) as page:
        yield page


def test_anonymous_browser_is_sent_to_login(browser, superset_session: Settings) -> None:
    context = browser.new_context()
    try:
        anonymous = context.new_page()
        anonymous.goto(f"{superset.url(superset_session)}/superset/dashboard/wijkprofiel/")
        assert "/login" in anonymous.url
    finally:
        context.close()


@pytest.mark.parametrize("dashboard", dashboards(), ids=lambda d: d["slug"])
def test_dashboard_shows_every_figure(page, superset_session: Settings, dashboard: dict) -> None:
    """Every chart on opening shows its figure or a reason in words, formatted and labelled for people."""
    opened = open_dashboard(page, superset_session, dashboard)
    assert_settled(opened, dashboard["dashboard_title"])
    problems = [problem for chart in opened.charts for problem in chart_problems(chart)]
    assert not problems, f"{opened.where}:\n" + "\n".join(problems)


def test_the_checks_catch_what_a_policy_officer_would_misread() -> None:
    """The rules above fail on the faults they are meant for, and pass a correct chart."""
    assert chart_problems({"title": "Kosten", "text": "Kosten\n€ 450", "canvas": ""}) == []
    assert chart_problems({"title": "A", "text": "A\nGeen data", "canvas": ""}) == ["A: shows 'Geen data'"]
    assert chart_problems({"title": "B", "text": "B\n1.632,0 %", "canvas": ""}) == ["B: share 1.632,0 % above 100 %"]
    assert chart_problems({"title": "B", "text": "B\n16,3 %\n100 %", "canvas": ""}) == []
    assert chart_problems({"title": "C", "text": "C", "canvas": "wmo_clienten_per_1000\n12"}) == [
        "C: raw key 'wmo_clienten_per_1000' in a label"
    ]
    assert chart_problems({"title": "Realisatie van budget", "text": "104,2 %", "canvas": ""}) == []
    assert chart_problems({"title": "D", "text": "D", "canvas": "", "drawn": 0}) == ["D: nothing drawn"]
