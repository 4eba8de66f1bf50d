"""The serving database the Superset tests run against, and ONE Superset server per test session.

The six dashboards read the serving tables of the pipeline (`wijk_veerkracht`,
`verwacht_werkelijk`, ..., `raadsrapportage`, `area_geometry`). `check_serving_db` insists that a
copy of the demo `serving.duckdb` holds every one of them, with rows and with the columns the
dashboards use: the tests never run on made-up tables.

Registered as a pytest plugin in `tests/conftest.py`, so the Superset tests and the browser tests
share one server.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project.ops import superset
from dagster_project.ops.report import REPORT_COLUMNS
from dagster_project.ops.services import free_port
from dagster_project.settings import Settings

# Columns of every serving table the dashboards read.
WIJK_KEY = ["year", "gemeente_code", "gemeente_name", "wijk_code", "wijk_name"]
INTERFACE_COLUMNS: dict[str, list[str]] = {
    "wijk_veerkracht": [
        *WIJK_KEY,
        "inwoners",
        "pct_laag_inkomen",
        "pct_huishoudens_met_kinderen",
        "pct_bijstand",
        "pct_werkloos",
        "pct_65_plus",
        "veerkracht_index",
        "veerkracht_rang",
        "veerkracht_rang_van",
        "veerkracht_verandering",
    ],
    "verwacht_werkelijk": [
        *WIJK_KEY,
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
        "indicator_label",
        "eenheid",
        "waarde",
        "peer_gemiddelde",
        "positie",
        "n_peers",
    ],
    "populatiebekostiging": [
        *WIJK_KEY,
        "domein",
        "verwachte_behoefte_aandeel",
        "budget_toegewezen",
        "werkelijke_kosten",
        "verschuiving",
    ],
    "sociaal_domein_3d": [
        *WIJK_KEY,
        "huishoudens_met_ondersteuning",
        "huishoudens_1_domein",
        "huishoudens_2_domeinen",
        "huishoudens_3_domeinen",
        "huishoudens_multi_domein",
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
        "huishoudens_multi_domein",
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
    "raadsrapportage": REPORT_COLUMNS,
    "area_geometry": ["gemeente_code", "area_level", "area_code", "area_name", "year", "geojson"],
}


# `rnd(key)`: a deterministic number in [0, 1) per key, so the synthetic rows are the same every run.
def serving_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'"
        ).fetchall()
    }


def check_serving_db(serving_db: Path) -> None:
    """Every dashboard table is published, with rows and with the columns the dashboards use."""
    with duckdb.connect(str(serving_db), read_only=True) as con:
        present = serving_tables(con)
        for table, columns in INTERFACE_COLUMNS.items():
            assert table in present, f"the pipeline did not publish {table}, which the dashboards read"
            have = {c for (c,) in con.execute(f"select column_name from (describe main.{table})").fetchall()}
            missing = [c for c in columns if c not in have]
            assert not missing, f"serving table {table} lacks the columns {missing} the dashboards use"
            assert con.execute(f"select count(*) from main.{table}").fetchone()[0] > 0, f"{table} is empty"


def gemeente_codes(serving_db: Path) -> list[str]:
    with duckdb.connect(str(serving_db), read_only=True) as con:
        return [
            c for (c,) in con.execute("select distinct gemeente_code from main.wijk_kerncijfers order by 1").fetchall()
        ]


@pytest.fixture(scope="session")
def superset_serving_source(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo pipeline's serving database, checked to hold every dashboard table."""
    folder = tmp_path_factory.mktemp("serving_source")
    target = folder / "serving.duckdb"
    shutil.copy(demo_home / "warehouse" / "serving.duckdb", target)
    check_serving_db(target)
    return target


@contextmanager
def running_superset(home: Path, serving_source: Path, users: list[dict]) -> Iterator[Settings]:
    """Superset bootstrapped on a copy of `serving_source` in `home`, with `users`, on a free port."""
    if not superset.SUPERSET_PYTHON.exists():
        pytest.skip("Superset's environment is missing: uv sync --project superset --frozen")
    serving_db = home / "warehouse" / "serving.duckdb"
    serving_db.parent.mkdir(parents=True)
    shutil.copy(serving_source, serving_db)
    (home / "superset").mkdir()
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


def gemeente_user(code: str) -> dict:
    """A policy officer of one gemeente: `beleid_<code>` with role `gemeente_<code>`."""
    return {
        "username": f"beleid_{code.lower()}",
        "first_name": "Beleid",
        "last_name": code,
        "roles": [f"gemeente_{code}"],
    }


@pytest.fixture(scope="session")
def superset_session(tmp_path_factory: pytest.TempPathFactory, superset_serving_source: Path) -> Iterator[Settings]:
    """Superset bootstrapped (with users from a users file) and running on a free port, once per session."""
    users = [gemeente_user(code) for code in gemeente_codes(superset_serving_source)]
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
    with running_superset(tmp_path_factory.mktemp("mmr_superset_home"), superset_serving_source, users) as settings:
        yield settings


# --- the session's Superset as its users ----------------------------------------------------------

DASHBOARD_TITLE = "Wijkprofiel"
COUNT = {"expressionType": "SQL", "sqlExpression": "COUNT(*)", "label": "n"}


def serving_query(serving_db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(serving_db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


class Api(superset.SupersetClient):
    """The Superset REST API as one user, defaulting to the Wijkprofiel dashboard."""

    def dashboard(self, title: str = DASHBOARD_TITLE) -> dict:
        return super().dashboard(title)

    def rows_per_gemeente(self, dataset_id: int, filters: list[dict] | None = None) -> dict[str, int]:
        """`{gemeente_code: rows}` of a dataset as this user may see it."""
        data = self.post(
            "/api/v1/chart/data",
            {
                "datasource": {"id": dataset_id, "type": "table"},
                "queries": [
                    {"columns": ["gemeente_code"], "metrics": [COUNT], "filters": filters or [], "row_limit": 10000}
                ],
                "result_format": "json",
                "result_type": "full",
                "force": True,
            },
        )["result"][0]["data"]
        return {row["gemeente_code"]: row["n"] for row in data}


@pytest.fixture(scope="module")
def superset_home(superset_session: Settings) -> Settings:
    return superset_session


@pytest.fixture(scope="module")
def api(superset_home: Settings) -> Api:
    password = superset.admin_password(superset_home)
    assert password, "bootstrap generated no admin password"
    return Api(superset.url(superset_home), password)


def user_password(settings: Settings, username: str) -> str:
    return (settings.superset_home / "passwords" / username).read_text().strip()


def login(settings: Settings, username: str) -> Api:
    return Api(superset.url(settings), user_password(settings, username), username=username)
