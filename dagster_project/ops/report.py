"""The council report (raadsrapportage) of one gemeente-year as CSV and printable HTML.

Read from the published serving database only, so the export holds exactly what dashboards may
show: suppressed counts, hidden rates, benchmarks on published values. Nothing is read from the
build warehouse.
"""

from __future__ import annotations

import csv
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from dagster_project.resources import Published, warehouse_for
from dagster_project.settings import Settings

REPORT_COLUMNS = [
    "year",
    "gemeente_code",
    "gemeente_name",
    "indicator",
    "indicator_label",
    "eenheid",
    "waarde",
    "vorig_jaar",
    "verandering",
    "regio_gemiddelde",
    "nederland_gemiddelde",
    "positie_in_regio",
    "n_in_regio",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"


class ReportError(Exception):
    """The report cannot be made (nothing published, or no data for the gemeente-year)."""


@dataclass
class Report:
    csv: Path
    html: Path
    rows: int


def dutch_number(value: object, unit: str = "", signed: bool = False) -> str:
    """1234567.8 -> '1.234.568' (counts, euros) or '12,3' (percentages, points, months); None -> en dash."""
    if value is None:
        return "–"
    number = float(value)
    decimals = 1 if unit in ("pct", "pp", "maanden") else 0
    text = f"{number:{'+' if signed else ''},.{decimals}f}".replace(",", "_").replace(".", ",").replace("_", ".")
    if unit == "euro":
        return f"€ {text}"
    if unit == "pct":
        return f"{text}%"
    if unit == "pp":
        return f"{text} pp"
    return text


def _csv_row(row: dict) -> dict:
    """Counts as whole numbers, everything else to two decimals: what the dashboards show."""
    rounded = dict(row)
    for column in ("waarde", "vorig_jaar", "verandering", "regio_gemiddelde", "nederland_gemiddelde"):
        if rounded[column] is not None:
            value = float(rounded[column])
            exact = row["eenheid"] == "aantal" and column in ("waarde", "vorig_jaar", "verandering")
            rounded[column] = int(round(value)) if exact else round(value, 2)
    return rounded


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    env.filters["nl"] = dutch_number
    return env


def _records(con: Published, sql: str, params: list) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def write_report(settings: Settings, gemeente: str, year: int | None = None) -> Report:
    """Write `var/reports/raadsrapportage_<gemeente>_<year>.{csv,html}` from the published database."""
    gemeente = gemeente.upper()
    warehouse = warehouse_for(settings)
    with ExitStack() as stack:
        try:
            con = stack.enter_context(warehouse.published())
        except FileNotFoundError as missing:
            raise ReportError(str(missing)) from None
        if not con.has_table("raadsrapportage"):
            raise ReportError(
                f"{warehouse.published_location} has no table raadsrapportage: publish again with `mmr run`"
            )
        if year is None:
            year = con.execute(
                "select max(year) from main.raadsrapportage where gemeente_code = ?", [gemeente]
            ).fetchone()[0]
        indicators = _records(
            con,
            f"select {', '.join(REPORT_COLUMNS)}, regio_code from main.raadsrapportage "
            "where gemeente_code = ? and year = ? order by volgorde",
            [gemeente, year],
        )
        if not indicators:
            available = con.execute(
                "select gemeente_code, min(year), max(year) from main.raadsrapportage group by 1 order by 1"
            ).fetchall()
            listing = ", ".join(f"{code} ({first}–{last})" for code, first, last in available)
            raise ReportError(
                f"no published council report for gemeente {gemeente}"
                f"{f', year {year}' if year else ''}; available: {listing}"
            )
        budget = (
            _records(
                con,
                "select * from main.budget_realisatie where gemeente_code = ? and year = ? order by domein",
                [gemeente, year],
            )
            if con.has_table("budget_realisatie")
            else []
        )
        wijken = (
            _records(
                con,
                "select * from main.sociaal_domein_3d where gemeente_code = ? and year = ? order by wijk_code",
                [gemeente, year],
            )
            if con.has_table("sociaal_domein_3d")
            else []
        )
        published_at = con.published_at

    out_dir = settings.home / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"raadsrapportage_{gemeente}_{year}"
    csv_path, html_path = stem.with_suffix(".csv"), stem.with_suffix(".html")
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=REPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(_csv_row(row) for row in indicators)
    html = (
        _environment()
        .get_template("raadsrapportage.html.j2")
        .render(
            gemeente_code=gemeente,
            gemeente_name=indicators[0]["gemeente_name"],
            regio_code=indicators[0]["regio_code"],
            year=year,
            indicators=indicators,
            budget=budget,
            wijken=wijken,
            threshold=settings.suppression_threshold,
            rounding_base=settings.rounding_base,
            published_at=f"{published_at:%d-%m-%Y %H:%M}",
            generated_at=f"{datetime.now(UTC):%d-%m-%Y %H:%M} UTC",
        )
    )
    html_path.write_text(html, encoding="utf-8")
    return Report(csv=csv_path, html=html_path, rows=len(indicators))
