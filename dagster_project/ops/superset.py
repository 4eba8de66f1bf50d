"""Superset for the one-machine mode: bootstrap, start/stop the web server, export dashboards as code.

Superset lives in its own environment (`superset/.venv`, from `superset/pyproject.toml`) because its
pins conflict with the pipeline's, so everything here drives that environment through subprocesses:

- `superset/bootstrap.py` (run by `bootstrap()`) upgrades the metadata database, syncs roles,
  creates user `admin` and imports `superset/assets` (idempotent, matched on UUID);
- `start()` runs gunicorn on 127.0.0.1:<MMR_SUPERSET_PORT> in the background (pid under
  `var/run`, log under `var/logs`) and waits for `/health`;
- `export_dashboards()` writes dashboards edited in the UI back into `superset/assets`.

Superset reads the serving database read-only; the pipeline replaces that file on each publish.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from dagster_project.ops import services
from dagster_project.resources import warehouse_for
from dagster_project.settings import PROJECT_ROOT, Settings, get_settings

SUPERSET_DIR = PROJECT_ROOT / "superset"
SUPERSET_VENV = SUPERSET_DIR / ".venv"
SUPERSET_PYTHON = SUPERSET_VENV / "bin" / "python"
GUNICORN = SUPERSET_VENV / "bin" / "gunicorn"
CONFIG_PATH = SUPERSET_DIR / "superset_config.py"
BOOTSTRAP_SCRIPT = SUPERSET_DIR / "bootstrap.py"
ASSETS_DIR = SUPERSET_DIR / "assets"
PROCESS_NAME = "superset"
#: Superset's metadata in the shared mode: a schema of the shared warehouse.
METADATA_SCHEMA = "superset"
HEALTH_TIMEOUT = 180.0

# Variables passed through to the Superset processes when set (see superset/superset_config.py).
PASSTHROUGH = (
    "MMR_SUPERSET_SECRET_KEY",
    "MMR_SUPERSET_METADATA_URI",
    "MMR_REDIS_URL",
    "MMR_SUPERSET_LANGUAGE",
    "MAPBOX_API_KEY",
)


class SupersetError(RuntimeError):
    """Superset could not be bootstrapped, started or exported."""


def load_assets(assets_dir: Path = ASSETS_DIR) -> dict[str, dict[Path, dict]]:
    """Every asset file by folder (`databases`, `datasets`, `charts`, `dashboards`): `{path: config}`."""
    import yaml

    return {
        folder: {path: yaml.safe_load(path.read_text()) for path in sorted((assets_dir / folder).rglob("*.yaml"))}
        for folder in ("databases", "datasets", "charts", "dashboards")
    }


def asset_problems(serving_db: Path | str, assets_dir: Path = ASSETS_DIR) -> list[str]:
    """Broken references from the dashboards down to the serving database, one message each.

    Every dashboard's chart and every native filter's dataset must be an asset, every chart's
    dataset must be an asset, and every dataset's table (schema `main`) must exist in `serving_db`
    with every physical column the dataset lists (a dbt rename shows up here, not as a broken chart).
    `serving_db` may be the shared warehouse's DSN: then the tables are those of schema `published`.
    """
    import duckdb

    assets = load_assets(assets_dir)
    problems: list[str] = []
    uuids = {folder: {str(c["uuid"]) for c in configs.values()} for folder, configs in assets.items()}
    for path, dashboard in assets["dashboards"].items():
        for node in dashboard["position"].values():
            if isinstance(node, dict) and node.get("type") == "CHART" and node["meta"]["uuid"] not in uuids["charts"]:
                problems.append(
                    f"{path.name}: chart {node['meta'].get('sliceName')!r} ({node['meta']['uuid']}) is missing"
                )
        for native_filter in dashboard.get("metadata", {}).get("native_filter_configuration", []):
            for target in native_filter.get("targets", []):
                if target.get("datasetUuid") not in uuids["datasets"]:
                    problems.append(f"{path.name}: filter {native_filter['name']!r} targets a missing dataset")
    for path, chart in assets["charts"].items():
        if str(chart["dataset_uuid"]) not in uuids["datasets"]:
            problems.append(f"{path.name}: dataset {chart['dataset_uuid']} is missing")
    query = "select table_name, column_name from information_schema.columns where table_schema = %s"
    if isinstance(serving_db, str):
        import psycopg

        from dagster_project.publish.schema_swap import PUBLISHED_SCHEMA

        with psycopg.connect(serving_db) as con:
            rows = con.execute(query, [PUBLISHED_SCHEMA]).fetchall()
    elif not serving_db.exists():
        return [*problems, f"{serving_db} does not exist"]
    else:
        with duckdb.connect(str(serving_db), read_only=True) as con:
            rows = con.execute(query.replace("%s", "?"), ["main"]).fetchall()
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    for path, dataset in assets["datasets"].items():
        table = dataset["table_name"]
        if table not in columns:
            problems.append(f"{path.name}: table {table} is not published in {_name(serving_db)}")
            continue
        physical = {c["column_name"] for c in dataset.get("columns", []) if not c.get("expression")}
        for missing in sorted(physical - columns[table]):
            problems.append(f"{path.name}: column {table}.{missing} is not published in {_name(serving_db)}")
    return problems


def _name(serving_db: Path | str) -> str:
    return serving_db.name if isinstance(serving_db, Path) else "the shared warehouse"


def _settings(settings: Settings | None) -> Settings:
    return settings or get_settings()


def url(settings: Settings | None = None) -> str:
    return f"http://127.0.0.1:{_settings(settings).superset_port}"


def pid_file(settings: Settings | None = None) -> Path:
    return _settings(settings).run_dir / f"{PROCESS_NAME}.pid"


def log_file(settings: Settings | None = None) -> Path:
    return _settings(settings).log_dir / f"{PROCESS_NAME}.log"


def superset_env(settings: Settings | None = None) -> dict[str, str]:
    """The environment for Superset's processes: its config, its home and MMR's runtime folder."""
    settings = _settings(settings)
    env = {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    env.update(
        SUPERSET_CONFIG_PATH=str(CONFIG_PATH),
        SUPERSET_HOME=str(settings.superset_home.resolve()),
        FLASK_APP="superset",
        MMR_HOME=str(settings.home.resolve()),
        PYTHONUNBUFFERED="1",
    )
    if settings.superset_admin_password:
        env["MMR_SUPERSET_ADMIN_PASSWORD"] = settings.superset_admin_password
    for key in PASSTHROUGH:
        value = getattr(settings, key.removeprefix("MMR_").lower(), None)
        if value:
            env[key] = str(value)
    env.update(warehouse_for(settings).superset_env(env.get("MMR_SUPERSET_METADATA_URI")))
    return env


def shared_mode_env(dsn: str, metadata_uri: str | None = None) -> dict[str, str]:
    """Superset on the shared warehouse: dashboards read schema `published` (`MMR_SERVING_URI`), and
    Superset's own metadata lives in schema `superset` of the same database unless given elsewhere.

    Dashboards read as role `regio`, which row-level security applies to: a login of its own when
    the operator sets `MMR_SERVING_URI` (as docker-compose.yml does with `mmr_superset`), else the
    region's connection switched to that role at connect. Never as the owner of the published
    tables, whom the policies do not bind."""
    from dagster_project.lib.postgres import sqlalchemy_url
    from dagster_project.publish.schema_swap import REGION_ROLE, ensure_reading_role

    if os.environ.get("MMR_SERVING_URI"):
        env = {"MMR_SERVING_URI": os.environ["MMR_SERVING_URI"]}
    else:
        ensure_reading_role(dsn, REGION_ROLE)
        env = {"MMR_SERVING_URI": sqlalchemy_url(dsn, options=f"-crole={REGION_ROLE}")}
    if not metadata_uri:
        env["MMR_SUPERSET_METADATA_URI"] = sqlalchemy_url(dsn, options=f"-csearch_path={METADATA_SCHEMA}")
    return env


def _require_env() -> None:
    if not SUPERSET_PYTHON.exists():
        raise SupersetError(
            f"Superset's environment is missing ({SUPERSET_VENV}); run `uv sync --project superset --frozen`"
        )


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _run_script(args: list[str], settings: Settings, log_name: str, timeout: float) -> str:
    """Run superset/bootstrap.py; its own messages (stdout) are returned, Superset's log goes to a file."""
    _require_env()
    settings.ensure_dirs()
    log = settings.log_dir / log_name
    with log.open("w") as handle:
        result = subprocess.run(
            [str(SUPERSET_PYTHON), str(BOOTSTRAP_SCRIPT), *args],
            cwd=SUPERSET_DIR,
            env=superset_env(settings),
            stdout=subprocess.PIPE,
            stderr=handle,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=timeout,
            check=False,
        )
    if result.returncode != 0:
        raise SupersetError(
            f"`bootstrap.py {' '.join(args)}` failed (exit {result.returncode}); see {log}:\n{_tail(log)}"
        )
    return result.stdout


def bootstrap(settings: Settings | None = None, *, echo: bool = True, timeout: float = 600) -> str:
    """Prepare Superset: metadata schema, roles, admin user, assets from `superset/assets`.

    Idempotent. On the first run without `MMR_SUPERSET_ADMIN_PASSWORD` the generated admin password
    is printed (once) and stored in `var/superset/admin_password`. Returns the script's messages.
    """
    settings = _settings(settings)
    output = _run_script(
        ["bootstrap", "--serving-db", str(settings.serving_db.resolve())],
        settings,
        "superset-bootstrap.log",
        timeout,
    )
    if echo:
        for line in output.splitlines():
            if line.startswith("[superset]"):
                print(line, flush=True)
        for problem in asset_problems(warehouse_for(settings).serving):
            print(f"[superset] warning: {problem}", flush=True)
    return output


def _running_pid(settings: Settings) -> int | None:
    """The pid of the gunicorn master this module started, if it is still running."""
    return services.running_pid(pid_file(settings), "gunicorn")


def is_running(settings: Settings | None = None) -> bool:
    """Whether the Superset server started by `start()` is running."""
    return _running_pid(_settings(settings)) is not None


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def healthy(settings: Settings | None = None) -> bool:
    try:
        return requests.get(f"{url(settings)}/health", timeout=3).ok
    except requests.RequestException:
        return False


def start(settings: Settings | None = None, *, workers: int = 2, timeout: float = HEALTH_TIMEOUT) -> str:
    """Start Superset (gunicorn) on 127.0.0.1 in the background, wait for `/health`; return its URL."""
    settings = _settings(settings)
    _require_env()
    settings.ensure_dirs()
    base = url(settings)
    if _running_pid(settings) is None:
        if _port_in_use(settings.superset_port):
            raise SupersetError(
                f"port {settings.superset_port} is already in use; stop what runs there or set MMR_SUPERSET_PORT"
            )
        command = [
            str(GUNICORN),
            "--bind",
            f"127.0.0.1:{settings.superset_port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--timeout",
            "120",
            "--limit-request-line",
            "0",
            "--limit-request-field_size",
            "0",
            # gunicorn's control socket is one path per user: two Supersets of one user would share it
            "--no-control-socket",
            "superset.app:create_app()",
        ]
        services.start_process(pid_file(settings), log_file(settings), command, SUPERSET_DIR, superset_env(settings))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(settings):
            return base
        if _running_pid(settings) is None:
            raise SupersetError(f"Superset exited during start; see {log_file(settings)}:\n{_tail(log_file(settings))}")
        time.sleep(0.5)
    stop(settings)
    raise SupersetError(f"Superset did not answer on {base}/health within {timeout:.0f}s; see {log_file(settings)}")


def stop(settings: Settings | None = None, *, timeout: float = 20) -> bool:
    """Stop the Superset server started by `start()`; False when it was not running."""
    return services.stop_process(pid_file(_settings(settings)), "gunicorn", timeout)


def admin_password(settings: Settings | None = None) -> str | None:
    """The admin password: `MMR_SUPERSET_ADMIN_PASSWORD`, or the one generated by the first bootstrap."""
    settings = _settings(settings)
    if settings.superset_admin_password:
        return settings.superset_admin_password
    path = settings.superset_home / "admin_password"
    return path.read_text().strip() if path.exists() else None


def export_dashboards(dest: Path | str = ASSETS_DIR, settings: Settings | None = None, *, timeout: float = 300) -> str:
    """Export every dashboard (with its charts, datasets and database) from Superset into `dest`.

    Files are named `<Title>_<uuid>.yaml`; an asset whose title changed replaces its old file. The
    database YAML already in `dest` (a template for the serving path) is kept; a new one gets the
    serving path replaced by `${MMR_SERVING_DB}`. Review the diff and commit it.
    """
    settings = _settings(settings)
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    return _run_script(
        ["export", str(dest), "--serving-db", str(settings.serving_db.resolve())],
        settings,
        "superset-export.log",
        timeout,
    )


class SupersetClient:
    """Superset's REST API as a user (admin by default): dashboards, charts and chart data."""

    def __init__(self, base: str, password: str, username: str = "admin") -> None:
        self.base = base
        response = requests.post(
            f"{base}/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db", "refresh": False},
            timeout=30,
        )
        response.raise_for_status()
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def get(self, path: str, **params: Any) -> Any:
        response = requests.get(f"{self.base}{path}", headers=self.headers, params=params, timeout=60)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, payload: dict) -> Any:
        response = requests.post(f"{self.base}{path}", headers=self.headers, json=payload, timeout=60)
        if not response.ok:
            raise SupersetError(f"POST {path}: {response.status_code} {response.text[:500]}")
        return response.json()

    def all(self, resource: str) -> list[dict]:
        return self.get(f"/api/v1/{resource}/", q="(page_size:100)")["result"]

    def dashboard(self, title: str) -> dict:
        matches = [d for d in self.all("dashboard") if d["dashboard_title"] == title]
        if len(matches) != 1:
            raise SupersetError(f"expected one dashboard {title!r}, found {len(matches)}")
        return matches[0]

    def query_context(self, chart_id: int) -> dict:
        """The query a dashboard sends for a chart: its saved query context, or one built from its form data."""
        chart = self.get(f"/api/v1/chart/{chart_id}")["result"]
        if chart.get("query_context"):
            return json.loads(chart["query_context"])
        form_data = json.loads(chart["params"])
        datasource_id, datasource_type = form_data["datasource"].split("__")
        return {
            "datasource": {"id": int(datasource_id), "type": datasource_type},
            "form_data": form_data,
            "queries": [
                {
                    "columns": form_data.get("all_columns") or form_data.get("groupby", []),
                    "metrics": form_data.get("metrics") or [form_data.get("metric")],
                }
            ],
            "result_format": "json",
            "result_type": "full",
        }

    def opening_queries(self) -> Iterator[tuple[str, str, int, dict]]:
        """(dashboard, chart, chart id, query) for every chart of every dashboard: the query it sends
        when the dashboard opens, its own narrowed by the dashboard's default filters."""
        for dashboard in self.all("dashboard"):
            detail = self.get(f"/api/v1/dashboard/{dashboard['id']}")["result"]
            metadata = json.loads(detail.get("json_metadata") or "{}")
            charts = self.get(f"/api/v1/dashboard/{dashboard['id']}/charts")["result"]
            narrowed: dict[int, list[dict]] = {chart["id"]: [] for chart in charts}
            for native_filter in metadata.get("native_filter_configuration", []):
                values = self.default_values(native_filter)
                if not values:
                    continue
                excluded = set(native_filter.get("scope", {}).get("excluded", []))
                column = native_filter["targets"][0]["column"]["name"]
                for chart_id in set(narrowed) - excluded:
                    narrowed[chart_id].append({"col": column, "op": "IN", "val": values})
            for chart in charts:
                context = self.query_context(chart["id"])
                for query in context["queries"]:
                    query["filters"] = [*query.get("filters", []), *narrowed[chart["id"]]]
                yield dashboard["dashboard_title"], chart["slice_name"], chart["id"], context

    def default_values(self, native_filter: dict) -> list:
        """What a select filter starts on: its saved default, else its first option if it defaults to that."""
        saved = native_filter.get("defaultDataMask", {}).get("filterState", {}).get("value")
        if saved:
            return list(saved)
        if not native_filter.get("controlValues", {}).get("defaultToFirstItem"):
            return []
        return self.filter_options(native_filter, limit=1)

    def filter_options(self, native_filter: dict, limit: int = 1000) -> list:
        """The values a select filter offers, asked for as the filter asks: its column's distinct
        values in the filter's order."""
        target = native_filter["targets"][0]
        column = target["column"]["name"]
        ascending = native_filter.get("controlValues", {}).get("sortAscending", True)
        options = self.post(
            "/api/v1/chart/data",
            {
                "datasource": {"id": target["datasetId"], "type": "table"},
                "queries": [{"columns": [column], "metrics": [], "orderby": [[column, ascending]], "row_limit": limit}],
                "result_format": "json",
                "result_type": "full",
            },
        )["result"][0]["data"]
        return [option[column] for option in options]

    def chart_data(self, chart_id: int, query_context: dict | None = None) -> list[dict]:
        """Rows of a chart, computed afresh (no cache)."""
        context = {**(query_context or self.query_context(chart_id)), "force": True}
        result = self.post("/api/v1/chart/data", context)["result"]
        if len(result) != 1 or result[0].get("error"):
            raise SupersetError(f"chart {chart_id}: {result}")
        return result[0]["data"]
