"""The serving database the Superset tests run against, and ONE Superset server per test session.

The six dashboards read the serving tables of /work/wt/INTERFACE.md (`wijk_veerkracht`,
`verwacht_werkelijk`, ..., `raadsrapportage`) and `area_geometry`. Until those tables are built
by the pipeline, `complete_serving_db` adds each table that is MISSING from a copy of the demo
`serving.duckdb` with the contract's columns and synthetic, plausible rows derived from the real
demo wijken (`wijk_kerncijfers`); a table the pipeline already publishes is used as it is.
`area_geometry` is built with the real geometry code (`dagster_project.geometry`) from the demo
build warehouse when the pipeline does not publish it yet. `SYNTHETIC_TABLES` records which
tables were made up in this session; the tests print it.

Registered as a pytest plugin in `tests/conftest.py`, so the Superset tests and the browser tests
share one server.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project import geometry
from dagster_project.lib import superset
from dagster_project.settings import Settings

# Columns of every serving table the dashboards read (INTERFACE.md, plus area_geometry).
INTERFACE_COLUMNS: dict[str, list[str]] = {
    "wijk_veerkracht": [
        "year",
        "gemeente_code",
        "gemeente_name",
        "wijk_code",
        "wijk_name",
        "inwoners",
        "pct_laag_inkomen",
        "pct_eenoudergezinnen",
        "pct_bijstand",
        "pct_werkloos",
        "pct_65_plus",
        "veerkracht_index",
        "veerkracht_rang",
        "veerkracht_rang_van",
        "veerkracht_verandering",
    ],
    "verwacht_werkelijk": [
        "year",
        "gemeente_code",
        "gemeente_name",
        "wijk_code",
        "wijk_name",
        "domein",
        "maat",
        "verwacht",
        "werkelijk",
        "ratio",
        "ratio_ondergrens",
        "ratio_bovengrens",
        "signaal",
    ],
    "interventie_effect": [
        "gemeente_code",
        "gemeente_name",
        "wijk_code",
        "wijk_name",
        "interventie_id",
        "interventie_type",
        "startjaar",
        "uitkomst",
        "effect",
        "effect_ondergrens",
        "effect_bovengrens",
        "significant",
        "vergelijkingswijken",
        "n_vergelijkingswijken",
    ],
    "benchmark": [
        "year",
        "gemeente_code",
        "gemeente_name",
        "area_level",
        "area_code",
        "area_name",
        "indicator",
        "waarde",
        "peer_gemiddelde",
        "positie",
        "n_peers",
    ],
    "populatiebekostiging": [
        "year",
        "gemeente_code",
        "gemeente_name",
        "wijk_code",
        "wijk_name",
        "domein",
        "verwachte_behoefte_aandeel",
        "budget_toegewezen",
        "werkelijke_kosten",
        "verschuiving",
    ],
    "sociaal_domein_3d": [
        "year",
        "gemeente_code",
        "gemeente_name",
        "wijk_code",
        "wijk_name",
        "huishoudens_met_ondersteuning",
        "huishoudens_1_domein",
        "huishoudens_2_domeinen",
        "huishoudens_3_domeinen",
        "kosten_totaal",
        "kosten_multi_domein",
        "aandeel_kosten_multi_domein",
    ],
    "zvw_context": [
        "year",
        "gemeente_code",
        "gemeente_name",
        "zvw_kosten_totaal",
        "zvw_kosten_ggz",
        "zvw_kosten_wijkverpleging",
        "kosten_sociaal_domein",
        "kosten_multi_domein",
    ],
    "aanbieder_resultaat": [
        "year",
        "gemeente_code",
        "gemeente_name",
        "domein",
        "aanbieder_code",
        "aanbieder_naam",
        "clienten",
        "kosten_per_client",
        "doelrealisatie_pct",
        "uitval_pct",
        "herinstroom_pct",
        "gemiddelde_duur_maanden",
        "tevredenheid_pct",
        "doelrealisatie_pct_verandering",
        "uitval_pct_verandering",
        "herinstroom_pct_verandering",
        "tevredenheid_pct_verandering",
    ],
    "budget_realisatie": [
        "year",
        "gemeente_code",
        "gemeente_name",
        "domein",
        "budget",
        "realisatie",
        "verschil",
        "realisatie_pct",
    ],
    "raadsrapportage": [
        "year",
        "gemeente_code",
        "gemeente_name",
        "indicator",
        "indicator_label",
        "waarde",
        "vorig_jaar",
        "verandering",
        "regio_gemiddelde",
        "nederland_gemiddelde",
        "positie_in_regio",
    ],
    "area_geometry": ["gemeente_code", "area_level", "area_code", "area_name", "year", "geojson"],
}

# `rnd(key)`: a deterministic number in [0, 1) per key, so the synthetic rows are the same every run.
MACROS = """
create or replace temp macro rnd(k) as (hash(k) % 100003) / 100003.0;
create or replace temp macro r5(x) as case when x < 10 then null else cast(round(x / 5.0) * 5 as integer) end;
create or replace temp view w as
    select year, gemeente_code, gemeente_name, wijk_code, wijk_name,
        coalesce(inwoners, 0) as inwoners, coalesce(huishoudens, 0) as huishoudens,
        coalesce(pct_huishoudens_laag_inkomen, 8 + 10 * rnd(wijk_code || 'li' || year)) as pct_laag_inkomen
    from main.wijk_kerncijfers;
create or replace temp view g as
    select year, gemeente_code, any_value(gemeente_name) as gemeente_name, sum(inwoners) as inwoners,
        sum(huishoudens) as huishoudens
    from w group by all;
create or replace temp view d as select unnest(['jeugd', 'wmo', 'participatie']) as domein;
"""

SYNTHETIC_SQL: dict[str, str] = {
    "wijk_veerkracht": """
        with base as (
            select *, round(6 + 10 * rnd(wijk_code || 'eo'), 1) as pct_eenoudergezinnen,
                round(2 + 8 * rnd(wijk_code || 'bij') + 0.2 * (year % 3), 1) as pct_bijstand,
                round(2 + 6 * rnd(wijk_code || 'ww' || year), 1) as pct_werkloos,
                round(12 + 16 * rnd(wijk_code || '65') + 0.3 * (year - 2015), 1) as pct_65_plus
            from w
        ), indexed as (
            select *, round(100 - 1.2 * pct_laag_inkomen - 1.1 * pct_eenoudergezinnen - 1.5 * pct_bijstand
                - 1.3 * pct_werkloos - 0.3 * pct_65_plus, 1) as veerkracht_index
            from base
        )
        select year, gemeente_code, gemeente_name, wijk_code, wijk_name, r5(inwoners) as inwoners,
            round(pct_laag_inkomen, 1) as pct_laag_inkomen, pct_eenoudergezinnen, pct_bijstand, pct_werkloos,
            pct_65_plus, veerkracht_index,
            cast(rank() over (partition by year, gemeente_code order by veerkracht_index desc) as integer)
                as veerkracht_rang,
            cast(count(*) over (partition by year, gemeente_code) as integer) as veerkracht_rang_van,
            round(veerkracht_index - lag(veerkracht_index) over (partition by wijk_code order by year), 1)
                as veerkracht_verandering
        from indexed
    """,
    "verwacht_werkelijk": """
        with m as (select unnest(['clienten', 'kosten']) as maat),
        base as (
            select w.*, d.domein, m.maat,
                w.inwoners * (case d.domein when 'jeugd' then 0.035 when 'wmo' then 0.06 else 0.025 end)
                    * (0.7 + w.pct_laag_inkomen / 30) * (case m.maat when 'kosten' then 9500 else 1 end)
                    as verwacht_raw,
                0.75 + 0.5 * rnd(w.wijk_code || d.domein || m.maat || w.year) as factor
            from w cross join d cross join m
        ), valued as (
            select *, round(verwacht_raw) as verwacht, round(verwacht_raw * factor) as werkelijk,
                0.08 + 0.1 * rnd(wijk_code || domein || 'ci') as marge
            from base
        )
        select year, gemeente_code, gemeente_name, wijk_code, wijk_name, domein, maat,
            case when maat = 'clienten' then r5(verwacht) else verwacht end as verwacht,
            case when maat = 'clienten' then r5(werkelijk) else werkelijk end as werkelijk,
            round(werkelijk / nullif(verwacht, 0), 3) as ratio,
            round(werkelijk / nullif(verwacht, 0) - marge, 3) as ratio_ondergrens,
            round(werkelijk / nullif(verwacht, 0) + marge, 3) as ratio_bovengrens,
            case when werkelijk / nullif(verwacht, 0) - marge > 1 then 'hoger dan verwacht'
                when werkelijk / nullif(verwacht, 0) + marge < 1 then 'lager dan verwacht'
                else 'conform verwachting' end as signaal
        from valued where verwacht_raw >= 10
    """,
    "interventie_effect": """
        with last as (select * from w where year = (select max(year) from w)),
        chosen as (select * from last where rnd(wijk_code || 'int') < 0.2),
        uit as (select unnest(['jeugdhulp per 1.000 jongeren', 'uitval (%)', 'herinstroom (%)']) as uitkomst)
        select c.gemeente_code, c.gemeente_name, c.wijk_code, c.wijk_name,
            'INT-' || substr(c.wijk_code, 3) as interventie_id,
            (['wijkteam', 'preventieprogramma', 'schuldhulp in de wijk'])[1 + cast(floor(3 * rnd(c.wijk_code)) as int)]
                as interventie_type,
            c.year - 2 - cast(floor(3 * rnd(c.wijk_code || 'st')) as int) as startjaar,
            uit.uitkomst,
            round(-6 + 8 * rnd(c.wijk_code || uit.uitkomst), 1) as effect,
            round(-6 + 8 * rnd(c.wijk_code || uit.uitkomst) - 2.5, 1) as effect_ondergrens,
            round(-6 + 8 * rnd(c.wijk_code || uit.uitkomst) + 2.5, 1) as effect_bovengrens,
            (-6 + 8 * rnd(c.wijk_code || uit.uitkomst) + 2.5) < 0 as significant,
            (select string_agg(wijk_code, ',') from (select wijk_code from last o
                where o.wijk_code <> c.wijk_code order by rnd(o.wijk_code || c.wijk_code) limit 5))
                as vergelijkingswijken,
            5 as n_vergelijkingswijken
        from chosen c cross join uit
    """,
    "benchmark": """
        with ind as (select unnest(['pct_laag_inkomen', 'jeugdhulp_per_1000', 'wmo_per_1000']) as indicator),
        gem as (
            select g.year, g.gemeente_code, g.gemeente_name, 'gemeente' as area_level, g.gemeente_code as area_code,
                g.gemeente_name as area_name, ind.indicator,
                round(case ind.indicator when 'pct_laag_inkomen' then 8 + 8 * rnd(g.gemeente_code || g.year)
                    when 'jeugdhulp_per_1000' then 90 + 40 * rnd(g.gemeente_code || 'j' || g.year)
                    else 55 + 30 * rnd(g.gemeente_code || 'w' || g.year) end, 1) as waarde
            from g cross join ind
        ),
        wk as (
            select w.year, w.gemeente_code, w.gemeente_name, 'wijk', w.wijk_code, w.wijk_name, ind.indicator,
                round(case ind.indicator when 'pct_laag_inkomen' then w.pct_laag_inkomen
                    when 'jeugdhulp_per_1000' then 70 + 80 * rnd(w.wijk_code || 'j' || w.year)
                    else 40 + 50 * rnd(w.wijk_code || 'w' || w.year) end, 1)
            from w cross join ind
        ),
        alle as (select * from gem union all select * from wk)
        select *, round(avg(waarde) over (partition by year, area_level, indicator), 1) as peer_gemiddelde,
            cast(rank() over (partition by year, area_level, indicator order by waarde) as integer) as positie,
            cast(count(*) over (partition by year, area_level, indicator) as integer) as n_peers
        from alle
    """,
    "populatiebekostiging": """
        with base as (
            select w.*, d.domein, w.inwoners * (0.7 + w.pct_laag_inkomen / 30) as behoefte,
                (case d.domein when 'jeugd' then 420 when 'wmo' then 380 else 260 end) as per_inwoner
            from w cross join d
        ), shared as (
            select *, behoefte / nullif(sum(behoefte) over (partition by year, gemeente_code, domein), 0) as aandeel,
                sum(inwoners * per_inwoner) over (partition by year, gemeente_code, domein) as budget_gemeente
            from base
        )
        select year, gemeente_code, gemeente_name, wijk_code, wijk_name, domein,
            round(aandeel, 4) as verwachte_behoefte_aandeel,
            round(aandeel * budget_gemeente, -3) as budget_toegewezen,
            round(aandeel * budget_gemeente * (0.8 + 0.4 * rnd(wijk_code || domein || year)), -3)
                as werkelijke_kosten,
            round(aandeel * budget_gemeente * (0.8 + 0.4 * rnd(wijk_code || domein || year)), -3)
                - round(aandeel * budget_gemeente, -3) as verschuiving
        from shared
    """,
    "sociaal_domein_3d": """
        with base as (
            select *, huishoudens * (0.08 + 0.08 * rnd(wijk_code || '3d' || year)) as ondersteund,
                0.12 + 0.08 * rnd(wijk_code || 'twee') as p2, 0.02 + 0.03 * rnd(wijk_code || 'drie') as p3
            from w
        )
        select year, gemeente_code, gemeente_name, wijk_code, wijk_name,
            r5(ondersteund) as huishoudens_met_ondersteuning,
            r5(ondersteund * (1 - p2 - p3)) as huishoudens_1_domein,
            r5(ondersteund * p2) as huishoudens_2_domeinen,
            r5(ondersteund * p3) as huishoudens_3_domeinen,
            round(ondersteund * 11500, -3) as kosten_totaal,
            round(ondersteund * (p2 * 2.4 + p3 * 3.8) * 11500, -3) as kosten_multi_domein,
            round((p2 * 2.4 + p3 * 3.8), 3) as aandeel_kosten_multi_domein
        from base
    """,
    "zvw_context": """
        select year, gemeente_code, gemeente_name,
            round(inwoners * (2900 + 400 * rnd(gemeente_code || year)), -3) as zvw_kosten_totaal,
            round(inwoners * (210 + 60 * rnd(gemeente_code || 'ggz' || year)), -3) as zvw_kosten_ggz,
            round(inwoners * (150 + 40 * rnd(gemeente_code || 'wv' || year)), -3) as zvw_kosten_wijkverpleging,
            round(inwoners * (1050 + 200 * rnd(gemeente_code || 'sd' || year)), -3) as kosten_sociaal_domein,
            round(inwoners * (330 + 90 * rnd(gemeente_code || 'md' || year)), -3) as kosten_multi_domein
        from g
    """,
    "aanbieder_resultaat": """
        with a as (
            select unnest(range(1, 7)) as nr
        ), base as (
            select g.year, g.gemeente_code, g.gemeente_name, d.domein,
                'AGB' || lpad(cast(nr * 1117 + length(d.domein) * 13 as varchar), 6, '0') as aanbieder_code,
                (['Zorggroep De Linde', 'Stichting Samen Verder', 'Jeugdformaat', 'WijkZorg Plus',
                  'Thuis in de Buurt', 'Perspectief Werkt'])[nr] as aanbieder_naam,
                g.inwoners * (0.002 + 0.004 * rnd(nr || d.domein || g.gemeente_code)) as clienten_raw,
                rnd(nr || d.domein || g.gemeente_code || g.year) as q
            from g cross join d cross join a
        ), valued as (
            select *, round(55 + 30 * q, 1) as doelrealisatie_pct, round(6 + 14 * (1 - q), 1) as uitval_pct,
                round(4 + 10 * rnd(aanbieder_code || year), 1) as herinstroom_pct,
                round(62 + 30 * rnd(aanbieder_code || gemeente_code || year || 't'), 1) as tevredenheid_pct
            from base
        )
        select year, gemeente_code, gemeente_name, domein, aanbieder_code, aanbieder_naam,
            r5(clienten_raw) as clienten,
            round((case domein when 'jeugd' then 9000 when 'wmo' then 4200 else 2600 end) * (0.7 + 0.6 * q), -1)
                as kosten_per_client,
            doelrealisatie_pct, uitval_pct, herinstroom_pct,
            round(6 + 18 * rnd(aanbieder_code || 'duur'), 1) as gemiddelde_duur_maanden,
            tevredenheid_pct,
            round(doelrealisatie_pct - lag(doelrealisatie_pct) over k, 1) as doelrealisatie_pct_verandering,
            round(uitval_pct - lag(uitval_pct) over k, 1) as uitval_pct_verandering,
            round(herinstroom_pct - lag(herinstroom_pct) over k, 1) as herinstroom_pct_verandering,
            round(tevredenheid_pct - lag(tevredenheid_pct) over k, 1) as tevredenheid_pct_verandering
        from valued
        window k as (partition by gemeente_code, domein, aanbieder_code order by year)
    """,
    "budget_realisatie": """
        with base as (
            select g.year, g.gemeente_code, g.gemeente_name, d.domein,
                round(g.inwoners * (case d.domein when 'jeugd' then 420 when 'wmo' then 380 else 260 end), -3)
                    as budget,
                0.88 + 0.24 * rnd(g.gemeente_code || d.domein || g.year) as factor
            from g cross join d
        )
        select year, gemeente_code, gemeente_name, domein, budget, round(budget * factor, -3) as realisatie,
            round(budget * factor, -3) - budget as verschil,
            round(100 * round(budget * factor, -3) / nullif(budget, 0), 1) as realisatie_pct
        from base
    """,
    "raadsrapportage": """
        with ind as (
            select * from (values
                ('jeugdhulp_per_1000', 'Jongeren met jeugdhulp per 1.000', 95.0, 40.0),
                ('wmo_per_1000', 'Inwoners met Wmo-voorziening per 1.000', 60.0, 30.0),
                ('bijstand_per_1000', 'Inwoners met bijstand per 1.000', 28.0, 15.0),
                ('tevredenheid_pct', 'Tevreden cliënten (%)', 72.0, 15.0),
                ('kosten_per_inwoner', 'Kosten sociaal domein per inwoner (€)', 1050.0, 250.0)
            ) as t(indicator, indicator_label, basis, spreiding)
        ), base as (
            select g.year, g.gemeente_code, g.gemeente_name, ind.indicator, ind.indicator_label,
                round(ind.basis + ind.spreiding * (rnd(g.gemeente_code || ind.indicator) - 0.5)
                    + 0.03 * ind.basis * (g.year - 2018) * (rnd(ind.indicator) - 0.4), 1) as waarde,
                ind.basis
            from g cross join ind
        )
        select year, gemeente_code, gemeente_name, indicator, indicator_label, waarde,
            lag(waarde) over k as vorig_jaar, round(waarde - lag(waarde) over k, 1) as verandering,
            round(avg(waarde) over (partition by year, indicator), 1) as regio_gemiddelde,
            cast(round(basis * 1.02, 1) as double) as nederland_gemiddelde,
            cast(rank() over (partition by year, indicator order by waarde desc) as integer) as positie_in_regio
        from base
        window k as (partition by gemeente_code, indicator order by year)
    """,
}

SYNTHETIC_TABLES: list[str] = []


def serving_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'"
        ).fetchall()
    }


def complete_serving_db(serving_db: Path, build_db: Path | None = None) -> list[str]:
    """Add every dashboard table missing from `serving_db` (a COPY, never the published file).

    Returns the tables that were synthesised. Real tables (all INTERFACE columns present) are kept;
    a table that exists with missing columns is an error, not something to paper over.
    """
    added: list[str] = []
    with duckdb.connect(str(serving_db)) as con:
        present = serving_tables(con)
        for table, columns in INTERFACE_COLUMNS.items():
            # area_geometry is published empty while the geometry asset is not part of the run
            if (
                table == "area_geometry"
                and table in present
                and con.execute("select count(*) from main.area_geometry").fetchone()[0] == 0
            ):
                con.execute("drop table main.area_geometry")
                present.discard(table)
            if table in present:
                have = {c for (c,) in con.execute(f"select column_name from (describe main.{table})").fetchall()}
                missing = [c for c in columns if c not in have]
                if missing:
                    raise AssertionError(f"serving table {table} lacks INTERFACE columns {missing}")
                continue
            if table == "area_geometry":
                _add_area_geometry(con, build_db)
            else:
                con.execute(MACROS)
                con.execute(f"create table main.{table} as {SYNTHETIC_SQL[table]}")
            added.append(table)
        con.execute("checkpoint")
    return added


def _add_area_geometry(con: duckdb.DuckDBPyConnection, build_db: Path | None) -> None:
    """`area_geometry` as `serving_area_geometry.sql` builds it, from the demo build's raw boundaries."""
    if build_db is None or not build_db.exists():
        raise AssertionError("area_geometry is not published and there is no build warehouse to make it from")
    con.execute(f"attach '{build_db}' as build (read_only)")
    try:
        frame = geometry.build_area_geometry(con, "build.raw.cbs_gebieden")
        con.register("geo_frame", frame)
        con.execute(
            """
            create table main.area_geometry as
            with areas as (select * from main.dim_area), named as (
                select f.gemeente_code, a.gemeente_name, f.area_level, f.area_code,
                    coalesce(a.area_name, f.area_name) as area_name, cast(f.year as integer) as year,
                    case when f.area_level = 'wijk' then f.area_code else a.wijk_code end as wijk_code,
                    a.wijk_name, f.bron, f.geojson
                from geo_frame f left join areas a on f.area_code = a.area_code and f.year = a.year
            )
            select n.gemeente_code, n.gemeente_name, n.area_level, n.area_code, n.area_name, n.year,
                n.wijk_code, n.wijk_name, k.inwoners, k.huishoudens, k.gemiddeld_inkomen,
                k.pct_huishoudens_laag_inkomen, n.bron, n.geojson
            from named n left join main.wijk_kerncijfers k
                on n.area_level = 'wijk' and n.area_code = k.wijk_code and n.year = k.year
            """
        )
        con.unregister("geo_frame")
    finally:
        con.execute("detach build")


# --- one Superset per test session --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gemeente_codes(serving_db: Path) -> list[str]:
    with duckdb.connect(str(serving_db), read_only=True) as con:
        return [
            c for (c,) in con.execute("select distinct gemeente_code from main.wijk_kerncijfers order by 1").fetchall()
        ]


@pytest.fixture(scope="session")
def superset_serving_source(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo pipeline's serving database, completed with the dashboard tables it lacks."""
    folder = tmp_path_factory.mktemp("serving_source")
    target = folder / "serving.duckdb"
    shutil.copy(demo_home / "warehouse" / "serving.duckdb", target)
    SYNTHETIC_TABLES[:] = complete_serving_db(target, demo_home / "warehouse" / "build.duckdb")
    if SYNTHETIC_TABLES:
        print(f"\n[superset tests] synthetic stand-ins for tables not yet published: {', '.join(SYNTHETIC_TABLES)}")
    return target


@pytest.fixture(scope="session")
def superset_session(tmp_path_factory: pytest.TempPathFactory, superset_serving_source: Path) -> Iterator[Settings]:
    """Superset bootstrapped (with users from a users file) and running on a free port, once per session."""
    if not superset.SUPERSET_PYTHON.exists():
        pytest.skip("Superset's environment is missing: uv sync --project superset --frozen")
    home = tmp_path_factory.mktemp("mmr_superset_home")
    serving_db = home / "warehouse" / "serving.duckdb"
    serving_db.parent.mkdir(parents=True)
    shutil.copy(superset_serving_source, serving_db)
    (home / "superset").mkdir()
    codes = gemeente_codes(serving_db)
    users = [
        {"username": f"beleid_{code.lower()}", "first_name": "Beleid", "last_name": code, "roles": [f"gemeente_{code}"]}
        for code in codes[:2]
    ]
    users.append({"username": "regio_analist", "first_name": "Regio", "last_name": "Analist", "roles": ["regio"]})
    users.append(
        {
            "username": "zonder_regel",
            "first_name": "Zonder",
            "last_name": "Regel",
            "roles": ["mmr_lezer"],
            "password": secrets.token_urlsafe(12),
        }
    )
    (home / "superset" / "users.yaml").write_text(yaml.safe_dump({"regio": {"gemeenten": "alle"}, "users": users}))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MMR_HOME", str(home))
        env.setenv("MMR_SUPERSET_PORT", str(free_port()))
        for name in ("MMR_SUPERSET_ADMIN_PASSWORD", "MMR_SUPERSET_METADATA_URI", "MMR_REDIS_URL", "MMR_SUPERSET_USERS"):
            env.delenv(name, raising=False)
        settings = Settings(superset_admin_password=None)
        assert settings.serving_db == serving_db
        superset.bootstrap(settings, echo=False)
        superset.start(settings, workers=int(os.environ.get("MMR_TEST_SUPERSET_WORKERS", "2")))
        try:
            yield settings
        finally:
            superset.stop(settings)
            assert not superset.is_running(settings)
