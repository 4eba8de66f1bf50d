"""A fresh home whose only delivery is a real CBS KWB file publishes that gemeente's real wijken.

The delivery is `tests/fixtures/cbs_kwb/kwb_2019.csv`, the TypedDataSet CSV of KWB 2019 (84583NED)
for 's-Gravenhage byte-for-byte as CBS offers it. No area maps, no municipal records: dim_area
takes the areas from KWB itself, Wijkprofiel shows the 44 real wijken, and the dashboards whose
sources did not deliver read empty tables. In Superset, as that gemeente's policy officer,
Wijkprofiel shows the real figures and every other dashboard says why it has none.
"""

import csv
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from dagster_project.settings import Settings
from tests.browser_pages import EMPTY_STATE_TEXTS, assert_settled, chart_problems, dashboards, open_dashboard, signed_in
from tests.conftest import KWB_FIXTURE, mmr
from tests.superset_fixtures import gemeente_user, running_superset

pytestmark = pytest.mark.e2e

GEMEENTE, INWONERS = "GM0518", 537_833


def delivered_wijken() -> dict[str, int]:
    with KWB_FIXTURE.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    return {
        r["WijkenEnBuurten"].strip(): int(r["AantalInwoners_5"]) for r in rows if r["SoortRegio_2"].strip() == "Wijk"
    }


@pytest.fixture(scope="module")
def real_home(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A fresh home with only the real file, after `mmr run --no-demo`.

    `MMR_TEST_REAL_KWB_HOME` names such a home that already ran, with the run's output (ending in
    `RC=<exit code>`) in `mmr_run.log`, to iterate on the assertions quickly.
    """
    reuse = os.environ.get("MMR_TEST_REAL_KWB_HOME")
    if reuse:
        output = (Path(reuse) / "mmr_run.log").read_text(encoding="utf-8")
        code = int(output.rstrip().rsplit("RC=", 1)[1])
        return Path(reuse), subprocess.CompletedProcess(["mmr", "run", "--no-demo"], code, output, "")
    home = tmp_path_factory.mktemp("real_kwb_home")
    (home / "landing" / "cbs_kwb").mkdir(parents=True)
    shutil.copy(KWB_FIXTURE, home / "landing" / "cbs_kwb" / "kwb_2019.csv")
    result = mmr(home, "run", "--no-demo", check=False, timeout=3600)
    return home, result


def served(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse" / "serving.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_real_file_is_accepted_whole_and_published(real_home):
    home, result = real_home
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Published" in result.stdout
    with duckdb.connect(str(home / "warehouse" / "build.duckdb"), read_only=True) as con:
        log = con.execute(
            "select status, rows_read, rows_accepted, rows_rejected from raw.ingestion_log where source = 'cbs_kwb'"
        ).fetchall()
    assert log == [("accepted", 159, 159, 0)]


def test_dim_area_holds_the_real_wijken_and_buurten_of_the_gemeente(real_home):
    home, _ = real_home
    levels = dict(served(home, "select area_level, count(*) from dim_area where year = 2019 group by 1"))
    assert levels == {"gemeente": 1, "wijk": 44, "buurt": 114}
    wijken = {code for (code,) in served(home, "select area_code from dim_area where area_level = 'wijk'")}
    assert wijken == set(delivered_wijken())
    assert served(home, f"select distinct gemeente_name from dim_area where gemeente_code = '{GEMEENTE}'") == [
        ("'s-Gravenhage",)
    ]


def test_wijkprofiel_figures_add_up_to_the_real_gemeente_total(real_home):
    home, _ = real_home
    delivered = delivered_wijken()
    published = dict(
        served(home, f"select wijk_code, inwoners from wijk_kerncijfers where gemeente_code = '{GEMEENTE}'")
    )
    assert set(published) == set(delivered)
    for code, count in published.items():
        if count is not None:
            assert abs(count - delivered[code]) <= 2.5, code
    assert published["WK051801"] is None  # 0 inhabitants: never shown
    shown = sum(count for count in published.values() if count is not None)
    hidden = sum(delivered[code] for code, count in published.items() if count is None)
    # CBS rounds wijk counts to fives (the real wijken add up to 537,680), MMR rounds again and hides
    # a few small wijken; what a dashboard user adds up stays within 0.1% of the real total
    assert abs(shown + hidden - INWONERS) <= 0.001 * INWONERS
    assert abs(shown - INWONERS) <= 0.001 * INWONERS


def test_dashboards_without_their_sources_read_empty_tables(real_home):
    home, _ = real_home
    tables = {name for (name,) in served(home, "select table_name from information_schema.tables")}
    for table in ("verwacht_werkelijk", "sociaal_domein_3d", "zvw_context", "aanbieder_resultaat"):
        assert table in tables, table
        assert served(home, f"select count(*) from {table}") == [(0,)], table


@pytest.fixture(scope="module")
def real_superset(real_home, tmp_path_factory) -> Settings:
    """Superset on what the real file published, with the gemeente's policy officer as a user."""
    home, result = real_home
    assert result.returncode == 0
    with running_superset(
        tmp_path_factory.mktemp("real_superset"), home / "warehouse" / "serving.duckdb", [gemeente_user(GEMEENTE)]
    ) as settings:
        yield settings


@pytest.fixture(scope="module")
def officer_page(browser, real_superset: Settings):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Chromium is missing: make browser-deps")
    username = f"beleid_{GEMEENTE.lower()}"
    password = (real_superset.superset_home / "passwords" / username).read_text().strip()
    with signed_in(browser, real_superset, username, password) as page:
        yield page


@pytest.mark.superset
@pytest.mark.browser
@pytest.mark.parametrize("dashboard", dashboards(), ids=lambda d: d["slug"])
def test_every_dashboard_shows_a_figure_or_says_why_not(officer_page, real_superset: Settings, dashboard: dict):
    """Wijkprofiel shows the real figures (its map says why it has none: no wijk boundaries were
    delivered); a dashboard whose sources were not delivered opens (no spinner, no error) and says in
    each chart why it has no figure, never Superset's bare 'Geen data'."""
    opened = open_dashboard(officer_page, real_superset, dashboard)
    assert_settled(opened, dashboard["dashboard_title"])
    problems = []
    for chart in opened.charts:
        may_be_empty = dashboard["slug"] != "wijkprofiel" or chart["title"].startswith("Kaart")
        problems += [
            problem
            for problem in chart_problems(chart)
            if not (may_be_empty and any(f"shows '{reason}'" in problem for reason in EMPTY_STATE_TEXTS))
        ]
    assert not problems, f"{opened.where}:\n" + "\n".join(problems)
