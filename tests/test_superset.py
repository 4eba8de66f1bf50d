"""Superset: six dashboards as code, bootstrap, what the server reads (roles and row-level
security: `test_superset_security.py`).

The file tests (`test_asset_chain`, `test_dashboards_...`, `test_area_geometry_...`) need nothing
but the repository. The `superset` tests share ONE Superset server per session
(`superset_session` in `tests/superset_fixtures.py`), bootstrapped with a users file under a
temporary MMR_HOME, on a copy of the demo pipeline's `serving.duckdb`. Dashboard tables the
pipeline does not publish yet are added to that copy with synthetic rows (the fixture prints
which); expected values are always read from the database Superset reads.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import requests
import shapely
import yaml

from dagster_project import geometry
from dagster_project.ops import superset
from dagster_project.settings import PROJECT_ROOT, Settings
from tests.superset_fixtures import DASHBOARD_TITLE, INTERFACE_COLUMNS, Api, serving_query

ASSETS = PROJECT_ROOT / "superset" / "assets"
DASHBOARDS = {
    "Wijkprofiel",
    "Verwacht vs werkelijk & veerkracht",
    "Sociaal domein 3D",
    "Inkoop & aanbieders",
    "Budget & populatiebekostiging",
    "Raadsrapportage",
}
DATABASE_NAME = "MMR serving"
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# --- the serving database (the pipeline's contract) ---------------------------------------------


def republish(target: Path, changes: list[str]) -> Path:
    """Publish a changed copy of the serving database the way `dagster_project.publish` does: a fresh
    file, tables in `main` (DuckDB names the catalog after the file, so they read as
    `serving.<table>`), moved into place with one `os.replace`."""
    tmp = target.with_name(f".{target.stem}.new.duckdb")
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        con.execute(f"attach '{target}' as current_version (read_only)")
        tables = con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = 'current_version' and table_schema = 'main'"
        ).fetchall()
        for (table,) in tables:
            con.execute(f"create table main.{table} as select * from current_version.main.{table}")
        con.execute("detach current_version")
        for change in changes:
            con.execute(change)
        con.execute("checkpoint")
    os.replace(tmp, target)
    return target


# --- tests without Superset -------------------------------------------------------------------------


def load_assets() -> dict[str, dict[Path, dict]]:
    return superset.load_assets(ASSETS)


def chart_uuids(dashboard: dict) -> list[str]:
    return [
        node["meta"]["uuid"]
        for node in dashboard["position"].values()
        if isinstance(node, dict) and node.get("type") == "CHART"
    ]


def test_asset_chain() -> None:
    """Every reference between the asset files resolves (dashboard → chart → dataset → database)."""
    assert yaml.safe_load((ASSETS / "metadata.yaml").read_text())["version"] == "1.0.0"
    assets = load_assets()
    uuids = {folder: {str(c["uuid"]) for c in configs.values()} for folder, configs in assets.items()}
    all_uuids = [str(c["uuid"]) for configs in assets.values() for c in configs.values()]
    assert len(all_uuids) == len(set(all_uuids)), "a UUID is used twice"

    for configs in assets.values():
        for path, config in configs.items():
            assert path.name.endswith(f"_{config['uuid']}.yaml"), f"{path.name}: name must be <Title>_<uuid>.yaml"

    for path, database in assets["databases"].items():
        uri = database["sqlalchemy_uri"]
        assert uri.startswith("duckdb:///${MMR_SERVING_DB}"), f"{path.name}: the serving path must be a template"
        assert "access_mode=read_only" in uri, f"{path.name}: the serving database must be read-only"
        assert not re.search(r"//[^/]*:[^/]*@", uri), f"{path.name}: no passwords in asset files"

    dataset_names = {}
    for path, dataset in assets["datasets"].items():
        assert dataset["database_uuid"] in uuids["databases"], f"{path.name}: unknown database"
        assert not dataset.get("sql"), f"{path.name}: datasets are physical tables, not virtual SQL"
        assert dataset["schema"] == "serving.main", f"{path.name}: tables live in schema main of catalog serving"
        assert path.parent.name == "MMR_serving"
        assert "gemeente_code" in {c["column_name"] for c in dataset["columns"]}, f"{path.name}: no RLS key"
        dataset_names[str(dataset["uuid"])] = f"serving.{dataset['table_name']}"
    # exactly the dashboard tables plus the two key-figure tables
    assert set(dataset_names.values()) == {f"serving.{t}" for t in [*INTERFACE_COLUMNS, "dim_area", "wijk_kerncijfers"]}

    for path, chart in assets["charts"].items():
        uuid = str(chart["dataset_uuid"])
        assert uuid in uuids["datasets"], f"{path.name}: dataset {uuid} does not exist"
        assert re.search(rf"^dataset_uuid: {uuid}  # {re.escape(dataset_names[uuid])}$", path.read_text(), re.M), (
            f"{path.name}: the dataset_uuid line must name its dataset ({dataset_names[uuid]})"
        )

    assert {d["dashboard_title"] for d in assets["dashboards"].values()} == DASHBOARDS
    for path, dashboard in assets["dashboards"].items():
        assert chart_uuids(dashboard), f"{path.name}: no charts"
        for uuid in chart_uuids(dashboard):
            assert uuid in uuids["charts"], f"{path.name}: chart {uuid} does not exist"
        for native_filter in dashboard["metadata"].get("native_filter_configuration", []):
            for target in native_filter.get("targets", []):
                assert target["datasetUuid"] in uuids["datasets"], f"{path.name}: filter {native_filter['name']}"
    used = {uuid for dashboard in assets["dashboards"].values() for uuid in chart_uuids(dashboard)}
    assert used == uuids["charts"], "every chart belongs to a dashboard"


def test_dashboards_filter_on_gemeente_wijk_year_and_domain() -> None:
    """Each dashboard filters on the dimensions its data has; trend charts ignore the year filter."""
    assets = load_assets()
    tables = {str(d["uuid"]): d for d in assets["datasets"].values()}
    charts = {str(c["uuid"]): c for c in assets["charts"].values()}
    for dashboard in assets["dashboards"].values():
        title = dashboard["dashboard_title"]
        in_dashboard = [charts[uuid] for uuid in chart_uuids(dashboard)]
        columns = {c["column_name"] for chart in in_dashboard for c in tables[chart["dataset_uuid"]]["columns"]}
        filters = {
            f["name"]: f["targets"][0]["column"]["name"] for f in dashboard["metadata"]["native_filter_configuration"]
        }
        expected = {"Gemeente": "gemeente_name", "Jaar": "year"}
        if "wijk_name" in columns:
            expected["Wijk"] = "wijk_name"
        if "domein" in columns and title != "Raadsrapportage":
            expected["Domein"] = "domein"
        assert filters == expected, title
        year = next(f for f in dashboard["metadata"]["native_filter_configuration"] if f["name"] == "Jaar")
        assert year["controlValues"]["defaultToFirstItem"] and year["requiredFirst"], f"{title}: latest year first"
        ids = {
            n["meta"]["uuid"]: n["meta"]["chartId"]
            for n in dashboard["position"].values()
            if isinstance(n, dict) and n.get("type") == "CHART"
        }
        for uuid, chart in zip(chart_uuids(dashboard), in_dashboard, strict=True):
            if chart["params"].get("x_axis") == "jaar":
                assert ids[uuid] in year["scope"]["excluded"], (
                    f"{title}: trend {chart['slice_name']} must span all years"
                )
        wijk = [f for f in dashboard["metadata"]["native_filter_configuration"] if f["name"] == "Wijk"]
        gemeente = next(f for f in dashboard["metadata"]["native_filter_configuration"] if f["name"] == "Gemeente")
        assert all(f["cascadeParentIds"] == [gemeente["id"]] for f in wijk), f"{title}: wijken follow the gemeente"


def test_charts_name_indicators_that_exist_and_label_them_in_dutch() -> None:
    """A filter on an indicator code that the serving tables do not hold shows "Geen data"; a chart
    that groups by the code shows raw keys. Codes come from `dim_indicator` (seed `ref_indicators`),
    labels from its `indicator_label`."""
    seed = PROJECT_ROOT / "dbt" / "seeds" / "ref_indicators.csv"
    codes = {row["indicator_code"] for row in csv.DictReader(seed.open(encoding="utf-8"))}
    for path, chart in load_assets()["charts"].items():
        params = chart["params"]
        for adhoc in params.get("adhoc_filters", []):
            if adhoc.get("subject") == "indicator":
                values = adhoc["comparator"] if isinstance(adhoc["comparator"], list) else [adhoc["comparator"]]
                assert set(values) <= codes, f"{path.name}: unknown indicator {set(values) - codes}"
        shown = [params.get("x_axis"), *params.get("groupby", []), *params.get("all_columns", [])]
        assert "indicator" not in shown, f"{path.name}: shows indicator codes; use indicator_label"


def test_wijkprofiel_has_a_map_kpis_and_trends() -> None:
    assets = load_assets()
    dashboard = next(d for d in assets["dashboards"].values() if d["dashboard_title"] == DASHBOARD_TITLE)
    charts = {str(c["uuid"]): c for c in assets["charts"].values()}
    in_dashboard = [charts[uuid] for uuid in chart_uuids(dashboard)]
    viz_types = {c["viz_type"] for c in in_dashboard}
    assert {"deck_polygon", "big_number_total", "echarts_timeseries_line", "table"} <= viz_types
    maps = [c for c in in_dashboard if c["viz_type"] == "deck_polygon"]
    assert len({c["params"]["metric"] for c in maps}) >= 3, "the map offers several indicators"
    for chart in maps:
        assert chart["params"]["line_column"] == "geojson"
        assert {"subject": "area_level", "comparator": "wijk"}.items() <= chart["params"]["adhoc_filters"][0].items()


def test_area_geometry_unions_buurten_for_missing_levels() -> None:
    """Wijken and gemeenten without a delivered boundary are the union of their buurten; delivered ones stay."""
    squares = {
        "BU00010001": (0, 0, "WK000100"),
        "BU00010002": (1, 0, "WK000100"),
        "BU00010101": (0, 1, "WK000101"),
        "BU00010102": (1, 1, "WK000101"),
    }
    rows = [
        (
            code,
            f"Buurt {code[-2:]}",
            "buurt",
            "GM0001",
            wijk,
            2024,
            "Polygon",
            json.dumps({"type": "Polygon", "coordinates": [[[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1], [x, y]]]}),
        )
        for code, (x, y, wijk) in squares.items()
    ]
    delivered = json.dumps({"type": "Polygon", "coordinates": [[[0, 1], [2, 1], [2, 2], [0, 2], [0, 1]]]})
    rows.append(("WK000101", "Noord", "wijk", "GM0001", "WK000101", 2024, "Polygon", delivered))
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute(
        "create table raw.cbs_gebieden (code varchar, name varchar, level varchar, gemeente_code varchar, "
        "wijk_code varchar, year integer, geometry_type varchar, geometry varchar)"
    )
    con.executemany("insert into raw.cbs_gebieden values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    assert geometry.write_area_geometry(con) == 4 + 2 + 1
    result = {
        code: (level, bron, json.loads(text))
        for code, level, bron, text in con.execute(
            "select area_code, area_level, bron, geojson from geo.area_geometry"
        ).fetchall()
    }
    assert result["WK000100"][:2] == ("wijk", "samengevoegd uit buurten")
    assert result["WK000101"][:2] == ("wijk", "geleverd")
    assert result["GM0001"][:2] == ("gemeente", "samengevoegd uit buurten")
    assert shapely.from_geojson(json.dumps(result["WK000100"][2])).area == pytest.approx(2.0)
    assert shapely.from_geojson(json.dumps(result["GM0001"][2])).area == pytest.approx(4.0)
    assert result["GM0001"][2]["type"] == "Polygon", "adjacent buurten merge into one polygon"


# --- tests against the session's Superset ----------------------------------------------------------


@pytest.mark.superset
def test_every_dataset_and_table_exists_in_serving(api: Api, superset_home: Settings) -> None:
    """No broken references: the files, and what Superset imported, all reach a serving table."""
    assert superset.asset_problems(superset_home.serving_db) == []
    tables = {
        t
        for (t,) in serving_query(
            superset_home.serving_db, "select table_name from information_schema.tables where table_schema = 'main'"
        )
    }
    datasets = {d["id"]: d["table_name"] for d in api.all("dataset")}
    assert set(datasets.values()) <= tables
    for chart in api.all("chart"):
        detail = api.get(f"/api/v1/chart/{chart['id']}")["result"]
        datasource_id = int(json.loads(detail["params"])["datasource"].split("__")[0])
        assert datasource_id in datasets, f"chart {chart['slice_name']} points at a missing dataset"


@pytest.mark.superset
def test_every_chart_of_every_dashboard_returns_data(api: Api) -> None:
    titles = [d["dashboard_title"] for d in api.all("dashboard")]
    assert sorted(titles) == sorted(DASHBOARDS)
    empty = []
    for title in DASHBOARDS:
        charts = api.get(f"/api/v1/dashboard/{api.dashboard(title)['id']}/charts")["result"]
        assert charts, title
        for chart in charts:
            if not api.chart_data(chart["id"]):
                empty.append(f"{title}: {chart['slice_name']}")
    assert not empty, f"charts without rows: {empty}"


@pytest.mark.superset
def test_dashboards_open_on_the_first_gemeente_and_the_latest_year(api: Api, superset_home: Settings) -> None:
    """The queries the benchmark times as a dashboard opens: each chart's own, narrowed by the
    dashboard's defaults where the filter's scope reaches it, and each one answered."""
    defaults = "select min(gemeente_name), max(year) from serving.dim_area"
    ((first, latest),) = serving_query(superset_home.serving_db, defaults)
    opened = list(api.opening_queries())
    per_dashboard = {
        title: len(api.get(f"/api/v1/dashboard/{api.dashboard(title)['id']}/charts")["result"]) for title in DASHBOARDS
    }
    assert len(opened) == sum(per_dashboard.values()) and {title for title, *_ in opened} == set(DASHBOARDS)
    by_year = 0
    for title, chart, chart_id, context in opened:
        own = api.query_context(chart_id)["queries"][0].get("filters", [])
        filters = context["queries"][0]["filters"]
        added = filters[len(own) :]
        assert filters[: len(own)] == own, f"{title}: {chart}: its own filters stay"
        assert added[0] == {"col": "gemeente_name", "op": "IN", "val": [first]}, f"{title}: {chart}"
        assert added[1:] in ([], [{"col": "year", "op": "IN", "val": [latest]}]), f"{title}: {chart}: {added}"
        by_year += len(added) - 1
        api.chart_data(chart_id, context)
    trends = len(opened) - by_year
    assert by_year > trends > 0, "the year filter leaves out the trend charts only"


@pytest.mark.superset
def test_flagged_wijken_name_the_signals_or_say_why_there_are_none(api: Api, superset_home: Settings) -> None:
    """One row in every selection: the flagged wijken as counted in the serving table, "no wijk
    flagged" when all were assessed within the band, or "nothing to assess" when there are no rows."""
    dashboard = api.dashboard("Verwacht vs werkelijk & veerkracht")
    chart_id = next(
        c["id"]
        for c in api.get(f"/api/v1/dashboard/{dashboard['id']}/charts")["result"]
        if c["slice_name"] == "Gesignaleerde wijken"
    )
    flagged = "signaal in ('hoger dan verwacht', 'lager dan verwacht')"
    selections = serving_query(
        superset_home.serving_db,
        f"select gemeente_name, year, count(signaal), count(*) filter (where {flagged}) "
        "from main.verwacht_werkelijk group by all order by all",
    )
    seen = set()
    for gemeente, year, assessed, n_flagged in selections:
        if (n_flagged > 0) in seen:
            continue
        seen.add(n_flagged > 0)
        context = api.query_context(chart_id)
        context["queries"][0]["filters"] = [
            {"col": "gemeente_name", "op": "==", "val": gemeente},
            {"col": "year", "op": "==", "val": year},
        ]
        [row] = api.chart_data(chart_id, context)
        assert row["n_gesignaleerd"] == n_flagged
        if n_flagged:
            assert row["signalering"].count(" dan verwacht, werkelijk/verwacht ") == n_flagged
        else:
            assert row["signalering"].startswith("Geen wijk gesignaleerd in deze selectie")
            assert f"bij alle {assessed} beoordeelde wijkcijfers" in row["signalering"]
    assert seen == {True, False}, "the demo has selections with and without flagged wijken"
    context = api.query_context(chart_id)
    context["queries"][0]["filters"] = [{"col": "year", "op": "==", "val": 1900}]
    [row] = api.chart_data(chart_id, context)
    assert row["signalering"].startswith("Geen wijkcijfers om te beoordelen"), row


@pytest.mark.superset
def test_wijkprofiel_charts_return_serving_values(api: Api, superset_home: Settings) -> None:
    serving_db = superset_home.serving_db
    dashboard = api.dashboard()
    charts = {c["slice_name"]: c["id"] for c in api.get(f"/api/v1/dashboard/{dashboard['id']}/charts")["result"]}

    (total,) = serving_query(serving_db, "select sum(inwoners) from serving.wijk_kerncijfers")[0]
    assert api.chart_data(charts["Inwoners"]) == [{"sum_inwoners": total}]

    per_wijk = dict(
        serving_query(serving_db, "select wijk_name, sum(inwoners) from serving.wijk_kerncijfers group by 1")
    )
    bars = {row["wijk_name"]: row["sum_inwoners"] for row in api.chart_data(charts["Inwoners per wijk"])}
    assert bars == per_wijk

    expected = serving_query(
        serving_db, "select wijk_code, year, inwoners, gemiddeld_inkomen from serving.wijk_kerncijfers"
    )
    rows = api.chart_data(charts["Wijkkerncijfers"])
    assert sorted((r["wijk_code"], r["year"], r["inwoners"], r["gemiddeld_inkomen"]) for r in rows) == sorted(
        expected, key=lambda r: (r[0], r[1])
    )
    assert any(r["inwoners"] is None for r in rows) == any(r[2] is None for r in expected)

    # the map: one polygon per wijk, coloured by the wijk's share of low-income households
    polygons = api.chart_data(charts["Kaart: huishoudens met laag inkomen"])
    wijken = serving_query(
        serving_db,
        "select count(*) from (select distinct geojson, wijk_name, gemeente_name "
        "from serving.area_geometry where area_level = 'wijk')",
    )[0][0]
    assert len(polygons) == wijken > 0
    assert all(json.loads(p["geojson"])["type"] in {"Polygon", "MultiPolygon"} for p in polygons)


@pytest.mark.superset
def test_native_filters_offer_serving_values_and_filter(api: Api, superset_home: Settings) -> None:
    serving_db = superset_home.serving_db
    dashboard = api.get(f"/api/v1/dashboard/{api.dashboard()['id']}")["result"]
    filters = json.loads(dashboard["json_metadata"])["native_filter_configuration"]
    assert {f["name"] for f in filters} == {"Gemeente", "Wijk", "Jaar"}
    for native_filter in filters:
        column = native_filter["targets"][0]["column"]["name"]
        order = "asc" if native_filter["controlValues"]["sortAscending"] else "desc"
        expected = serving_query(
            serving_db, f"select distinct {column} from serving.wijk_kerncijfers order by 1 {order}"
        )
        assert api.filter_options(native_filter) == [value for (value,) in expected]

    # a chosen year reaches the chart query the way the Jaar filter sends it
    charts = {c["slice_name"]: c["id"] for c in api.all("chart")}
    chart = api.get(f"/api/v1/chart/{charts['Inwoners']}")["result"]
    query_context = json.loads(chart["query_context"])
    (year,) = serving_query(serving_db, "select max(year) from serving.wijk_kerncijfers")[0]
    query_context["queries"][0]["filters"] = [{"col": "year", "op": "IN", "val": [year]}]
    data = api.post("/api/v1/chart/data", query_context)["result"][0]["data"]
    (total,) = serving_query(serving_db, f"select sum(inwoners) from serving.wijk_kerncijfers where year = {year}")[0]
    assert data == [{"sum_inwoners": total}]


@pytest.mark.superset
def test_bootstrap_twice_gives_no_duplicates(api: Api, superset_home: Settings) -> None:
    passwords = {p.name: p.read_text() for p in (superset_home.superset_home / "passwords").iterdir()}
    rules_before = api.get("/api/v1/rowlevelsecurity/", q="(page_size:100)")["count"]
    superset.bootstrap(superset_home, echo=False)
    titles = [d["dashboard_title"] for d in api.all("dashboard")]
    assert sorted(titles) == sorted(DASHBOARDS), "exactly one copy of each dashboard"
    assert [d["database_name"] for d in api.all("database")] == [DATABASE_NAME]
    datasets = sorted(d["table_name"] for d in api.all("dataset"))
    assert datasets == sorted([*INTERFACE_COLUMNS, "dim_area", "wijk_kerncijfers"])
    assert len(api.all("chart")) == len(list((ASSETS / "charts").glob("*.yaml")))
    assert api.get("/api/v1/rowlevelsecurity/", q="(page_size:100)")["count"] == rules_before
    # generated passwords did not change, and every secret is private
    assert {p.name: p.read_text() for p in (superset_home.superset_home / "passwords").iterdir()} == passwords
    assert Api(superset.url(superset_home), superset.admin_password(superset_home))
    for secret in ("admin_password", "secret_key", *(f"passwords/{name}" for name in passwords)):
        assert (superset_home.superset_home / secret).stat().st_mode & 0o777 == 0o600, secret
    assert (superset_home.superset_home / "passwords").stat().st_mode & 0o777 == 0o700


@pytest.mark.superset
def test_export_writes_the_same_assets_back(superset_home: Settings, tmp_path: Path) -> None:
    dest = tmp_path / "assets"
    shutil.copytree(ASSETS, dest)
    superset.export_dashboards(dest, superset_home)
    names = sorted(str(p.relative_to(dest)) for p in dest.rglob("*.yaml"))
    assert names == sorted(str(p.relative_to(ASSETS)) for p in ASSETS.rglob("*.yaml"))
    for path in dest.rglob("*.yaml"):
        assert str(superset_home.home.resolve()) not in path.read_text(), f"{path.name} holds a local path"
    for path in (dest / "databases").glob("*.yaml"):
        assert path.read_text() == (ASSETS / "databases" / path.name).read_text()
    for path in (dest / "charts").glob("*.yaml"):
        assert re.search(rf"^dataset_uuid: {UUID_RE}  # serving\.\w+$", path.read_text(), re.M)


@pytest.mark.superset
def test_serving_database_is_read_only(api: Api, superset_home: Settings) -> None:
    database = next(d for d in api.all("database") if d["database_name"] == DATABASE_NAME)
    uri = api.get(f"/api/v1/database/{database['id']}/connection")["result"]["sqlalchemy_uri"]
    assert uri == f"duckdb:///{superset_home.serving_db.resolve()}?access_mode=read_only"

    # a write through Superset's own connection to the database fails
    script = (
        "from superset.app import create_app\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    from superset import db\n"
        "    from superset.models.core import Database\n"
        f"    database = db.session.query(Database).filter_by(database_name={DATABASE_NAME!r}).one()\n"
        "    with database.get_sqla_engine() as engine, engine.connect() as conn:\n"
        "        try:\n"
        "            conn.exec_driver_sql('create table main.must_fail as select 1 as x')\n"
        "        except Exception as exc:\n"
        "            print('WRITE-REFUSED', exc)\n"
        "        else:\n"
        "            print('WRITE-ACCEPTED')\n"
    )
    result = subprocess.run(
        [str(superset.SUPERSET_PYTHON), "-c", script],
        env=superset.superset_env(superset_home),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "WRITE-REFUSED" in result.stdout, result.stdout + result.stderr[-2000:]
    assert "read-only" in result.stdout.lower() or "read only" in result.stdout.lower(), result.stdout
    tables = serving_query(superset_home.serving_db, "select table_name from information_schema.tables")
    assert ("must_fail",) not in tables


@pytest.mark.superset
def test_superset_holds_no_lock_between_queries(api: Api, superset_home: Settings) -> None:
    """After answering, Superset has let go of the file: a writer could open it (publish never does)."""
    chart_id = api.all("chart")[0]["id"]
    api.chart_data(chart_id)
    with duckdb.connect(str(superset_home.serving_db), read_only=False) as con:
        assert con.execute("select count(*) from serving.wijk_kerncijfers").fetchone()[0] > 0


@pytest.mark.superset
def test_publish_by_os_replace_while_serving(api: Api, superset_home: Settings) -> None:
    serving_db = superset_home.serving_db
    charts = {c["slice_name"]: c["id"] for c in api.all("chart")}
    (before,) = serving_query(serving_db, "select sum(inwoners) from serving.wijk_kerncijfers")[0]
    assert api.chart_data(charts["Inwoners"]) == [{"sum_inwoners": before}]

    republish(
        serving_db,
        [
            "update wijk_kerncijfers set inwoners = inwoners + 1000",
            "insert into wijk_kerncijfers select year, gemeente_code, gemeente_name, 'WK050299', 'Schollevaar',"
            " 9000, 4000, 27.0, 14.0 from wijk_kerncijfers limit 1",
        ],
    )
    (after,) = serving_query(serving_db, "select sum(inwoners) from serving.wijk_kerncijfers")[0]
    assert after != before

    assert requests.get(f"{api.base}/health", timeout=10).ok
    assert api.chart_data(charts["Inwoners"]) == [{"sum_inwoners": after}]
    bars = {row["wijk_name"] for row in api.chart_data(charts["Inwoners per wijk"])}
    assert "Schollevaar" in bars
    assert api.dashboard()["dashboard_title"] == DASHBOARD_TITLE


def load_bootstrap():
    """`superset/bootstrap.py` as a module (it imports Superset only inside its functions)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mmr_superset_bootstrap", PROJECT_ROOT / "superset" / "bootstrap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_users_file_example_is_valid_and_mistakes_are_named(tmp_path: Path) -> None:
    bootstrap = load_bootstrap()
    example = bootstrap.read_users_file(PROJECT_ROOT / "superset" / "users.yaml")
    assert example["regio"]["gemeenten"] == "alle"
    assert all(user["roles"] and "password" not in user for user in example["users"])
    assert bootstrap.read_users_file(tmp_path / "absent.yaml") == {"regio": {"gemeenten": "alle"}, "users": []}

    cases = {
        "users: [{username: a, roles: [regio]}, {username: a, roles: [regio]}]": "user 2: username 'a' appears twice",
        "users: [{username: b}]": "user 1 (b): `roles` must be a non-empty list",
        "users: [{username: admin, roles: [Admin]}]": "user 1: `admin` is managed by MMR itself",
        "regio: {gemeenten: [Rotterdam]}": "regio.gemeenten must be `alle` or a list of codes",
        "users: [{roles: [regio]}]": "user 1 has no username",
    }
    for text, message in cases.items():
        path = tmp_path / "users.yaml"
        path.write_text(text)
        with pytest.raises(bootstrap.UsersFileError, match=re.escape(message)) as error:
            bootstrap.read_users_file(path)
        assert str(path) in str(error.value)
