"""`mmr report`: the council report of a gemeente as CSV and printable HTML, from published data only."""

import csv
import shutil
from pathlib import Path

import duckdb
import pytest

from dagster_project.ops.report import dutch_number
from tests.conftest import mmr

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def published_only(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home holding nothing but the published serving database: the report must need no more."""
    home = tmp_path_factory.mktemp("report_home")
    (home / "warehouse").mkdir()
    shutil.copy(demo_home / "warehouse" / "serving.duckdb", home / "warehouse" / "serving.duckdb")
    return home


@pytest.fixture(scope="module")
def published(published_only: Path):
    with duckdb.connect(str(published_only / "warehouse" / "serving.duckdb"), read_only=True) as con:
        year = con.execute("select max(year) from main.raadsrapportage").fetchone()[0]
        # the gemeente with the most wijken, so the report has a wijk table and some hidden cells
        gemeente, name = con.execute(
            """
            select r.gemeente_code, any_value(r.gemeente_name) from main.raadsrapportage as r
            join main.sociaal_domein_3d as w on w.gemeente_code = r.gemeente_code and w.year = r.year
            where r.year = ? group by 1 order by count(distinct w.wijk_code) desc, 1 limit 1
            """,
            [year],
        ).fetchone()
        rows = con.execute(
            "select indicator, waarde, vorig_jaar, regio_gemiddelde, positie_in_regio from main.raadsrapportage "
            "where gemeente_code = ? and year = ? order by volgorde",
            [gemeente, year],
        ).fetchall()
        wijken = con.execute(
            "select wijk_name, huishoudens_3_domeinen from main.sociaal_domein_3d where gemeente_code = ? and year = ?",
            [gemeente, year],
        ).fetchall()
    return {"year": year, "gemeente": gemeente, "name": name, "rows": rows, "wijken": wijken}


@pytest.fixture(scope="module")
def report(published_only: Path, published: dict) -> dict:
    result = mmr(published_only, "report", "--gemeente", published["gemeente"], "--year", str(published["year"]))
    stem = published_only / "reports" / f"raadsrapportage_{published['gemeente']}_{published['year']}"
    return {"stdout": result.stdout, "csv": stem.with_suffix(".csv"), "html": stem.with_suffix(".html")}


def number(text: str) -> float | None:
    return float(text) if text != "" else None


def test_csv_holds_the_published_indicators(report, published):
    with report["csv"].open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(published["rows"]) == 15
    for written, (indicator, waarde, vorig_jaar, regio, positie) in zip(rows, published["rows"], strict=True):
        assert written["indicator"] == indicator
        assert written["gemeente_code"] == published["gemeente"]
        assert number(written["waarde"]) == pytest.approx(waarde, abs=0.006)
        assert number(written["vorig_jaar"]) == pytest.approx(vorig_jaar, abs=0.006)
        assert number(written["regio_gemiddelde"]) == pytest.approx(regio, abs=0.006)
        assert (int(written["positie_in_regio"]) if written["positie_in_regio"] else None) == positie
    counts = [number(r["waarde"]) for r in rows if r["eenheid"] == "aantal" and r["waarde"]]
    assert counts and all(c >= 10 and c % 5 == 0 for c in counts)


def test_html_is_a_printable_report_with_suppressed_cells(report, published):
    html = report["html"].read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "@page" in html
    assert published["name"] in html and str(published["year"]) in html
    assert "Doelrealisatie Jeugd (%)" in html and "Tevredenheidscoëfficiënt" in html
    assert html.count("<tr><td>") >= 15 + len(published["wijken"])
    for wijk_name, _ in published["wijken"]:
        assert wijk_name in html
    if any(value is None for _, value in published["wijken"]):
        assert "–" in html, "hidden cells are shown as a dash"
    assert "aantallen onder 10" in html
    assert str(report["csv"]) in report["stdout"].replace("\n", "")


def test_unknown_gemeente_is_a_clear_error(published_only, published):
    result = mmr(published_only, "report", "--gemeente", "GM9999", "--year", str(published["year"]), check=False)
    assert result.returncode == 1
    out = " ".join(result.stdout.split())
    assert "GM9999" in out and published["gemeente"] in out


def test_nothing_published_is_a_clear_error(tmp_path):
    result = mmr(tmp_path, "report", "--gemeente", "GM0599", "--year", "2024", check=False)
    assert result.returncode == 1
    assert "mmr run" in " ".join(result.stdout.split())


def test_dutch_number_formats():
    assert dutch_number(1234567.8, "euro") == "€ 1.234.568"
    assert dutch_number(12.345, "pct") == "12,3%"
    assert dutch_number(-2.26, "pct", signed=True) == "-2,3%"
    assert dutch_number(3, "maanden", signed=True) == "+3,0"
    assert dutch_number(0.26, "pp", signed=True) == "+0,3 pp"
    assert dutch_number(1500, "aantal") == "1.500"
    assert dutch_number(None, "aantal") == "–"


def test_default_year_is_the_latest_published(published_only, published):
    result = mmr(published_only, "report", "--gemeente", published["gemeente"].lower())
    expected = published_only / "reports" / f"raadsrapportage_{published['gemeente']}_{published['year']}.csv"
    assert expected.exists()
    assert expected.name in result.stdout.replace("\n", "")
