"""Superset in the shared mode: its metadata in the shared PostgreSQL warehouse (schema `superset`),
its dashboards on schema `published`, which the pipeline swaps on every publish."""

import psycopg
import pytest
import yaml

from dagster_project.ops import superset
from dagster_project.ops.services import free_port
from dagster_project.settings import Settings
from tests.conftest import Pipeline
from tests.superset_fixtures import Api, login
from tests.test_superset import DASHBOARDS

pytestmark = [pytest.mark.e2e, pytest.mark.superset, pytest.mark.postgres]


@pytest.fixture(scope="module")
def shared_superset(shared_pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory):
    if not superset.SUPERSET_PYTHON.exists():
        pytest.skip("Superset's environment is missing: uv sync --project superset --frozen")
    home = tmp_path_factory.mktemp("mmr_superset_shared")
    (home / "superset").mkdir()
    with psycopg.connect(shared_pipeline.dsn) as con:
        codes = [r[0] for r in con.execute("select distinct gemeente_code from published.dim_area order by 1")]
    users = [{"username": "beleid_eigen", "first_name": "Beleid", "last_name": "X", "roles": [f"gemeente_{codes[0]}"]}]
    (home / "superset" / "users.yaml").write_text(yaml.safe_dump({"regio": {"gemeenten": "alle"}, "users": users}))
    settings = Settings(
        home=home,
        warehouse="postgres",
        postgres_dsn=shared_pipeline.dsn,
        superset_port=free_port(),
        superset_admin_password=None,
    )
    with pytest.MonkeyPatch.context() as env:
        for name in ("MMR_SUPERSET_ADMIN_PASSWORD", "MMR_SUPERSET_METADATA_URI", "MMR_REDIS_URL"):
            env.delenv(name, raising=False)
        superset.bootstrap(settings, echo=False)
        superset.start(settings, workers=1)
        try:
            yield settings, codes
        finally:
            superset.stop(settings)


def test_metadata_lives_in_the_shared_warehouse(shared_superset, shared_pipeline: Pipeline):
    with psycopg.connect(shared_pipeline.dsn) as con:
        titles = {r[0] for r in con.execute("select dashboard_title from superset.dashboards")}
        [uri] = [r[0] for r in con.execute("select sqlalchemy_uri from superset.dbs")]
    assert titles == DASHBOARDS
    assert uri.startswith("postgresql+psycopg2://")


def test_every_chart_reads_the_published_schema(shared_superset, shared_pipeline: Pipeline):
    settings, _ = shared_superset
    assert superset.asset_problems(shared_pipeline.dsn) == []
    api = Api(superset.url(settings), superset.admin_password(settings))
    datasets = api.all("dataset")
    assert {d["schema"] for d in datasets} == {"published"}
    empty = [chart["slice_name"] for chart in api.all("chart") if not api.chart_data(chart["id"])]
    assert not empty, f"charts without rows: {empty}"


def test_a_gemeente_user_sees_only_its_own_rows(shared_superset, shared_pipeline: Pipeline):
    settings, codes = shared_superset
    user = login(settings, "beleid_eigen")
    [wijken] = [d for d in user.all("dataset") if d["table_name"] == "wijk_kerncijfers"]
    seen = user.rows_per_gemeente(wijken["id"])
    [(published,)] = shared_pipeline.published(
        f"select count(*) from wijk_kerncijfers where gemeente_code = '{codes[0]}'"
    )
    assert seen == {codes[0]: published}


def test_dashboards_read_as_a_role_that_row_level_security_binds(shared_superset, shared_pipeline: Pipeline):
    """Superset's connection switches to role `regio`: the database's policies apply to every
    dashboard query, not only Superset's own filters, and the raw layer is out of its reach."""
    with psycopg.connect(shared_pipeline.dsn) as con:
        [uri] = [r[0] for r in con.execute("select sqlalchemy_uri from superset.dbs")]
    assert "role%3Dregio" in uri or "role=regio" in uri, uri
    with psycopg.connect(shared_pipeline.dsn, options="-crole=regio") as con:
        assert con.execute("select current_user").fetchone() == ("regio",)
        assert con.execute("select row_security_active('published.wijk_kerncijfers')").fetchone() == (True,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("select count(*) from raw.ingestion_log")
