"""Roles and row-level security in Superset: a gemeente user sees only its own rows, the region
sees every gemeente, a user without a rule and an anonymous visitor see nothing, and SQL Lab is
not granted to gemeente and regio roles. On the session's one Superset server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import yaml

from dagster_project.ops import superset
from dagster_project.settings import Settings
from tests.superset_fixtures import INTERFACE_COLUMNS, Api, gemeente_codes, login, serving_query, user_password


def serving_rows_per_gemeente(serving_db: Path, table: str) -> dict[str, int]:
    return dict(serving_query(serving_db, f"select gemeente_code, count(*) from main.{table} group by 1"))


@pytest.mark.superset
def test_gemeente_user_sees_only_its_own_gemeente(api: Api, superset_home: Settings) -> None:
    codes = gemeente_codes(superset_home.serving_db)[:2]
    datasets = api.all("dataset")
    assert len(datasets) == len(INTERFACE_COLUMNS) + 2
    for code in codes:
        user = login(superset_home, f"beleid_{code.lower()}")
        others = [c for c in gemeente_codes(superset_home.serving_db) if c != code]
        for dataset in datasets:
            expected = serving_rows_per_gemeente(superset_home.serving_db, dataset["table_name"])
            seen = user.rows_per_gemeente(dataset["id"])
            own = {code: expected[code]} if code in expected else {}
            assert seen == own, f"{code} on {dataset['table_name']}: {seen}"
            asked_for_others = user.rows_per_gemeente(
                dataset["id"], [{"col": "gemeente_code", "op": "IN", "val": others}]
            )
            assert asked_for_others == {}, f"{code} sees other gemeenten in {dataset['table_name']}"
        # every chart of every dashboard still works for the gemeente, on its own rows only
        for chart in user.all("chart"):
            detail = user.get(f"/api/v1/chart/{chart['id']}")["result"]
            for row in user.chart_data(chart["id"], json.loads(detail["query_context"])):
                assert row.get("gemeente_code", code) == code


@pytest.mark.superset
def test_regio_user_sees_every_gemeente_and_a_user_without_rule_sees_nothing(api: Api, superset_home: Settings) -> None:
    regio = login(superset_home, "regio_analist")
    users_file = superset_home.superset_home / "users.yaml"
    nobody = next(u for u in yaml.safe_load(users_file.read_text())["users"] if u["username"] == "zonder_regel")
    no_rule = Api(superset.url(superset_home), nobody["password"], username="zonder_regel")
    for dataset in api.all("dataset"):
        expected = serving_rows_per_gemeente(superset_home.serving_db, dataset["table_name"])
        assert regio.rows_per_gemeente(dataset["id"]) == expected, dataset["table_name"]
        assert api.rows_per_gemeente(dataset["id"]) == expected, f"admin on {dataset['table_name']}"
        assert no_rule.rows_per_gemeente(dataset["id"]) == {}, f"base rule must hide {dataset['table_name']}"


@pytest.mark.superset
def test_a_gemeente_reads_the_history_of_the_gemeenten_that_went_into_it(api: Api, superset_home: Settings) -> None:
    """Brielle, Hellevoetsluis and Westvoorne became Voorne aan Zee in 2023: their 2022 wijken are its
    history; the old gemeenten's own roles still read only their own rows."""
    merged = serving_query(
        superset_home.serving_db,
        "select distinct gemeente_code from main.dim_area where huidige_gemeente_code = 'GM1992' order by 1",
    )
    assert [code for (code,) in merged] == ["GM0501", "GM0530", "GM0614", "GM1992"]
    dataset = next(d for d in api.all("dataset") if d["table_name"] == "wijk_kerncijfers")
    expected = serving_rows_per_gemeente(superset_home.serving_db, "wijk_kerncijfers")
    assert login(superset_home, "beleid_gm1992").rows_per_gemeente(dataset["id"]) == {
        code: expected[code] for (code,) in merged
    }
    assert login(superset_home, "beleid_gm0501").rows_per_gemeente(dataset["id"]) == {"GM0501": expected["GM0501"]}


@pytest.mark.superset
def test_anonymous_gets_no_data(api: Api, superset_home: Settings) -> None:
    base = superset.url(superset_home)
    dataset_id = api.all("dataset")[0]["id"]
    query = {"datasource": {"id": dataset_id, "type": "table"}, "queries": [{"columns": ["gemeente_code"]}]}
    assert requests.post(f"{base}/api/v1/chart/data", json=query, timeout=30).status_code == 401
    for path in ("/api/v1/dashboard/", "/api/v1/chart/", "/api/v1/dataset/", "/api/v1/database/"):
        assert requests.get(f"{base}{path}", timeout=30).status_code == 401, path
    page = requests.get(f"{base}/superset/dashboard/wijkprofiel/", timeout=30, allow_redirects=False)
    assert page.status_code in {301, 302} and "/login" in page.headers["Location"]


def sql_lab_status(settings: Settings, username: str, password: str) -> int:
    """POST a query to SQL Lab as a user (with the CSRF token a browser would send); the HTTP status."""
    base = superset.url(settings)
    session = requests.Session()
    token = session.post(
        f"{base}/api/v1/security/login",
        json={"username": username, "password": password, "provider": "db"},
        timeout=30,
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    session.headers["X-CSRFToken"] = session.get(f"{base}/api/v1/security/csrf_token/", timeout=30).json()["result"]
    session.headers["Referer"] = base
    database_id = session.get(f"{base}/api/v1/database/", timeout=30).json()["result"][0]["id"]
    response = session.post(
        f"{base}/api/v1/sqllab/execute/",
        json={"database_id": database_id, "sql": "select count(*) from serving.main.wijk_kerncijfers"},
        timeout=60,
    )
    return response.status_code


@pytest.mark.superset
def test_sql_lab_is_not_granted_to_gemeente_and_regio_roles(superset_home: Settings) -> None:
    assert sql_lab_status(superset_home, "admin", superset.admin_password(superset_home)) == 200
    code = gemeente_codes(superset_home.serving_db)[0]
    for username in (f"beleid_{code.lower()}", "regio_analist"):
        assert sql_lab_status(superset_home, username, user_password(superset_home, username)) == 403, username
