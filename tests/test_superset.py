"""Superset: assets as code, bootstrap, the server and what it reads.

`test_asset_chain` needs nothing but the files. The `superset` tests bootstrap and start a real
Superset (from `superset/.venv`) on a free port under a temporary MMR_HOME, against a serving
database given by ONE fixture, `serving_db_source`: today a tiny database built here, later the
shared demo pipeline's `serving.duckdb`. Expected values are always read from that database.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import requests
import yaml

from dagster_project.lib import superset
from dagster_project.settings import PROJECT_ROOT, Settings

ASSETS = PROJECT_ROOT / "superset" / "assets"
DASHBOARD_TITLE = "Wijkprofiel"
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
        for table in ("wijk_kerncijfers", "dim_area"):
            con.execute(f"create table main.{table} as select * from current_version.main.{table}")
        con.execute("detach current_version")
        for change in changes:
            con.execute(change)
        con.execute("checkpoint")
    os.replace(tmp, target)
    return target


def serving_query(serving_db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(serving_db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def serving_db_source(demo_home: Path) -> Path:
    """THE serving database the Superset tests run against: the one the demo pipeline published."""
    return demo_home / "warehouse" / "serving.duckdb"


# --- a running Superset ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Api(superset.SupersetClient):
    """The Superset REST API as user admin, defaulting to the Wijkprofiel dashboard."""

    def dashboard(self, title: str = DASHBOARD_TITLE) -> dict:
        return super().dashboard(title)


@pytest.fixture(scope="module")
def superset_home(tmp_path_factory: pytest.TempPathFactory, serving_db_source: Path) -> Iterator[Settings]:
    """Superset bootstrapped and running on a free port under a temporary MMR_HOME."""
    if not superset.SUPERSET_PYTHON.exists():
        pytest.skip("Superset's environment is missing: uv sync --project superset --frozen")
    home = tmp_path_factory.mktemp("mmr_home")
    serving_db = home / "warehouse" / "serving.duckdb"
    serving_db.parent.mkdir(parents=True)
    shutil.copy(serving_db_source, serving_db)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MMR_HOME", str(home))
        env.setenv("MMR_SUPERSET_PORT", str(free_port()))
        env.delenv("MMR_SUPERSET_ADMIN_PASSWORD", raising=False)
        env.delenv("MMR_SUPERSET_METADATA_URI", raising=False)
        env.delenv("MMR_REDIS_URL", raising=False)
        settings = Settings(superset_admin_password=None)
        assert settings.serving_db == serving_db
        superset.bootstrap(settings, echo=False)
        superset.start(settings)
        try:
            yield settings
        finally:
            superset.stop(settings)
            assert not superset.is_running(settings)


@pytest.fixture(scope="module")
def api(superset_home: Settings) -> Api:
    password = superset.admin_password(superset_home)
    assert password, "bootstrap generated no admin password"
    return Api(superset.url(superset_home), password)


# --- tests without Superset -------------------------------------------------------------------------


def load_assets() -> dict[str, dict[Path, dict]]:
    assets: dict[str, dict[Path, dict]] = {}
    for folder in ("databases", "datasets", "charts", "dashboards"):
        assets[folder] = {path: yaml.safe_load(path.read_text()) for path in sorted((ASSETS / folder).rglob("*.yaml"))}
    return assets


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
        assert path.parent.name == "MMR_serving"
        dataset_names[str(dataset["uuid"])] = f"{dataset['schema'].split('.')[0]}.{dataset['table_name']}"
    assert set(dataset_names.values()) >= {"serving.dim_area", "serving.wijk_kerncijfers"}

    for path, chart in assets["charts"].items():
        uuid = str(chart["dataset_uuid"])
        assert uuid in uuids["datasets"], f"{path.name}: dataset {uuid} does not exist"
        assert re.search(rf"^dataset_uuid: {uuid}  # {re.escape(dataset_names[uuid])}$", path.read_text(), re.M), (
            f"{path.name}: the dataset_uuid line must name its dataset ({dataset_names[uuid]})"
        )

    titles = {d["dashboard_title"] for d in assets["dashboards"].values()}
    assert DASHBOARD_TITLE in titles
    for path, dashboard in assets["dashboards"].items():
        chart_uuids = [
            node["meta"]["uuid"]
            for node in dashboard["position"].values()
            if isinstance(node, dict) and node.get("type") == "CHART"
        ]
        assert chart_uuids, f"{path.name}: no charts"
        for uuid in chart_uuids:
            assert uuid in uuids["charts"], f"{path.name}: chart {uuid} does not exist"
        for native_filter in dashboard["metadata"].get("native_filter_configuration", []):
            for target in native_filter.get("targets", []):
                assert target["datasetUuid"] in uuids["datasets"], f"{path.name}: filter {native_filter['name']}"


def test_wijkprofiel_has_the_promised_charts_and_filters() -> None:
    assets = load_assets()
    dashboard = next(d for d in assets["dashboards"].values() if d["dashboard_title"] == DASHBOARD_TITLE)
    in_dashboard = {
        n["meta"]["uuid"] for n in dashboard["position"].values() if isinstance(n, dict) and n.get("type") == "CHART"
    }
    viz_types = {c["viz_type"] for c in assets["charts"].values() if str(c["uuid"]) in in_dashboard}
    assert {"table", "echarts_timeseries_bar", "big_number_total"} <= viz_types
    filters = {
        f["name"]: f["targets"][0]["column"]["name"] for f in dashboard["metadata"]["native_filter_configuration"]
    }
    assert filters == {"Gemeente": "gemeente_name", "Jaar": "year"}


# --- tests against a running Superset ---------------------------------------------------------------


@pytest.mark.superset
def test_wijkprofiel_is_listed(api: Api) -> None:
    dashboard = api.dashboard()
    charts = api.get(f"/api/v1/dashboard/{dashboard['id']}/charts")["result"]
    assert {c["slice_name"] for c in charts} >= {"Wijkkerncijfers", "Inwoners per wijk", "Inwoners"}


@pytest.mark.superset
def test_every_chart_returns_serving_values(api: Api, superset_home: Settings) -> None:
    serving_db = superset_home.serving_db
    dashboard = api.dashboard()
    charts = {c["slice_name"]: c["id"] for c in api.get(f"/api/v1/dashboard/{dashboard['id']}/charts")["result"]}
    for chart_id in charts.values():
        assert api.chart_data(chart_id), f"chart {chart_id} returned no rows"

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


@pytest.mark.superset
def test_native_filters_offer_serving_values_and_filter(api: Api, superset_home: Settings) -> None:
    serving_db = superset_home.serving_db
    dashboard = api.get(f"/api/v1/dashboard/{api.dashboard()['id']}")["result"]
    filters = json.loads(dashboard["json_metadata"])["native_filter_configuration"]
    assert {f["name"] for f in filters} == {"Gemeente", "Jaar"}
    for native_filter in filters:
        (target,) = native_filter["targets"]
        column = target["column"]["name"]
        # the values the filter offers: what the filter_select control asks for
        data = api.post(
            "/api/v1/chart/data",
            {
                "datasource": {"id": target["datasetId"], "type": "table"},
                "queries": [{"columns": [column], "metrics": [], "orderby": [[column, True]], "row_limit": 1000}],
                "result_format": "json",
                "result_type": "full",
            },
        )["result"][0]["data"]
        expected = serving_query(serving_db, f"select distinct {column} from serving.wijk_kerncijfers order by 1")
        assert [row[column] for row in data] == [value for (value,) in expected]

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
    superset.bootstrap(superset_home, echo=False)
    assert [d["dashboard_title"] for d in api.all("dashboard")].count(DASHBOARD_TITLE) == 1
    assert [d["database_name"] for d in api.all("database")] == [DATABASE_NAME]
    datasets = sorted(d["table_name"] for d in api.all("dataset"))
    assert datasets == ["dim_area", "wijk_kerncijfers"]
    chart_files = list((ASSETS / "charts").glob("*.yaml"))
    assert len(api.all("chart")) == len(chart_files)
    # the generated admin password did not change, and the secrets are private
    assert Api(superset.url(superset_home), superset.admin_password(superset_home))
    for secret in ("admin_password", "secret_key"):
        assert (superset_home.superset_home / secret).stat().st_mode & 0o777 == 0o600


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
