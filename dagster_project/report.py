"""The council report (raadsrapportage) of one gemeente-year as CSV and printable HTML.

Read from the published serving database only, so the export holds exactly what dashboards may
show: suppressed counts, hidden rates, benchmarks on published values. Nothing is read from the
build warehouse.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from jinja2 import Environment, select_autoescape

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

TEMPLATE = """<!doctype html>
<html lang="nl">
<head>
<meta charset="utf-8">
<title>Raadsrapportage sociaal domein {{ gemeente_name }} {{ year }}</title>
<style>
  @page { size: A4; margin: 18mm 15mm; }
  body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; color: #1a1a1a; }
  h1 { font-size: 16pt; margin-bottom: 2pt; }
  h2 { font-size: 12pt; margin-top: 18pt; border-bottom: 1px solid #999; }
  table { border-collapse: collapse; width: 100%; page-break-inside: auto; }
  tr { page-break-inside: avoid; }
  th, td { padding: 3pt 5pt; border-bottom: 1px solid #ddd; }
  th { text-align: left; background: #eef1f5; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .meta, .note { color: #555; font-size: 8.5pt; }
</style>
</head>
<body>
<h1>Raadsrapportage sociaal domein</h1>
<p class="meta">{{ gemeente_name }} ({{ gemeente_code }}) &middot; {{ year }} &middot; regio {{ regio_code }}
 &middot; gepubliceerd {{ published_at }} &middot; opgesteld {{ generated_at }}</p>

<h2>Kernindicatoren</h2>
<table>
<thead><tr><th>Indicator</th><th>{{ year }}</th><th>{{ year - 1 }}</th><th>Verandering</th>
<th>Gemiddelde regio</th><th>Gemiddelde alle gemeenten</th><th>Positie in regio</th></tr></thead>
<tbody>
{%- for row in indicators %}
<tr><td>{{ row.indicator_label }}</td>
<td class="num">{{ row.waarde | nl(row.eenheid) }}</td>
<td class="num">{{ row.vorig_jaar | nl(row.eenheid) }}</td>
<td class="num">{{ row.verandering | nl(row.eenheid, signed=True) }}</td>
<td class="num">{{ row.regio_gemiddelde | nl(row.eenheid) }}</td>
<td class="num">{{ row.nederland_gemiddelde | nl(row.eenheid) }}</td>
<td class="num">{% if row.positie_in_regio %}{{ row.positie_in_regio }} van {{ row.n_in_regio }}{% else %}&ndash;{% endif %}</td></tr>
{%- endfor %}
</tbody>
</table>

{%- if budget %}
<h2>Begroting en realisatie per domein</h2>
<table>
<thead><tr><th>Domein</th><th>Begroting</th><th>Realisatie</th><th>Verschil</th><th>Realisatie %</th><th>Cliënten</th></tr></thead>
<tbody>
{%- for row in budget %}
<tr><td>{{ row.domein | capitalize }}</td><td class="num">{{ row.budget | nl('euro') }}</td>
<td class="num">{{ row.realisatie | nl('euro') }}</td><td class="num">{{ row.verschil | nl('euro', signed=True) }}</td>
<td class="num">{{ row.realisatie_pct | nl('pct') }}</td><td class="num">{{ row.clienten | nl('aantal') }}</td></tr>
{%- endfor %}
</tbody>
</table>
{%- endif %}

{%- if wijken %}
<h2>Huishoudens met ondersteuning in meerdere domeinen, per wijk</h2>
<table>
<thead><tr><th>Wijk</th><th>Met ondersteuning</th><th>1 domein</th><th>2 domeinen</th><th>3 domeinen</th>
<th>Aandeel kosten multi-domein</th></tr></thead>
<tbody>
{%- for row in wijken %}
<tr><td>{{ row.wijk_name }}</td><td class="num">{{ row.huishoudens_met_ondersteuning | nl('aantal') }}</td>
<td class="num">{{ row.huishoudens_1_domein | nl('aantal') }}</td><td class="num">{{ row.huishoudens_2_domeinen | nl('aantal') }}</td>
<td class="num">{{ row.huishoudens_3_domeinen | nl('aantal') }}</td><td class="num">{{ row.aandeel_kosten_multi_domein | nl('pct') }}</td></tr>
{%- endfor %}
</tbody>
</table>
{%- endif %}

<p class="note">Onthullingsbeheersing: aantallen onder {{ threshold }} worden niet getoond (&ndash;), overige aantallen
zijn afgerond op {{ rounding_base }}; percentages en bedragen op een niet-getoond aantal worden ook niet getoond, en
waar nodig een tweede cel, zodat een verborgen waarde niet uit een totaal is af te leiden. Gemiddelden en posities
gaan alleen over getoonde waarden. Bron: Monitor Maatschappelijk Resultaat.</p>
</body>
</html>
"""


class ReportError(Exception):
    """The report cannot be made (nothing published, or no data for the gemeente-year)."""


@dataclass
class Report:
    csv: Path
    html: Path
    rows: int


def dutch_number(value: object, unit: str = "", signed: bool = False) -> str:
    """1234567.8 -> '1.234.568' (counts, euros) or '12,3' (percentages, months); None -> en dash."""
    if value is None:
        return "–"
    number = float(value)
    decimals = 1 if unit in ("pct", "maanden") else 0
    text = f"{number:{'+' if signed else ''},.{decimals}f}".replace(",", "_").replace(".", ",").replace("_", ".")
    if unit == "euro":
        return f"€ {text}"
    if unit == "pct":
        return f"{text}%"
    return text


def _environment() -> Environment:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["nl"] = dutch_number
    return env


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = 'main' and table_name = ?", [table]
        ).fetchone()[0]
    )


def write_report(settings: Settings, gemeente: str, year: int | None = None) -> Report:
    """Write `var/reports/raadsrapportage_<gemeente>_<year>.{csv,html}` from the published database."""
    if not settings.serving_db.exists():
        raise ReportError(f"nothing is published yet ({settings.serving_db} does not exist): run `mmr run` first")
    gemeente = gemeente.upper()
    with duckdb.connect(str(settings.serving_db), read_only=True) as con:
        if not _has_table(con, "raadsrapportage"):
            raise ReportError(f"{settings.serving_db} has no table raadsrapportage: publish again with `mmr run`")
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
            raise ReportError(f"no published council report for gemeente {gemeente}, year {year}; available: {listing}")
        budget = (
            _records(
                con,
                "select * from main.budget_realisatie where gemeente_code = ? and year = ? order by domein",
                [gemeente, year],
            )
            if _has_table(con, "budget_realisatie")
            else []
        )
        wijken = (
            _records(
                con,
                "select * from main.sociaal_domein_3d where gemeente_code = ? and year = ? order by wijk_code",
                [gemeente, year],
            )
            if _has_table(con, "sociaal_domein_3d")
            else []
        )
        published_at = con.execute("select published_at from main._publish").fetchone()[0]

    out_dir = settings.home / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"raadsrapportage_{gemeente}_{year}"
    csv_path, html_path = stem.with_suffix(".csv"), stem.with_suffix(".html")
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=REPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(indicators)
    html = (
        _environment()
        .from_string(TEMPLATE)
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
