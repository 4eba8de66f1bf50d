"""Shared fixtures. End-to-end tests share ONE demo pipeline run (session scope)."""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from dagster_project.settings import Settings

# One Superset server per test session, shared by the Superset API and browser tests.
pytest_plugins = ["tests.superset_fixtures"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Test homes keep their deliveries in landing/: tests copy them into other homes and change them.
# The product removes a delivery once it is ingested (MMR_LANDING_RETENTION_DAYS=0, the default);
# tests/test_privacy_scan.py runs the demo that way and scans every file of the home.
os.environ.setdefault("MMR_LANDING_RETENTION_DAYS", "keep")
FIXTURES = Path(__file__).resolve().parent / "fixtures"
KWB_FIXTURE = FIXTURES / "cbs_kwb" / "kwb_2019.csv"


def mmr(
    home: Path, *args: str, check: bool = True, timeout: int = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the real `mmr` CLI against an MMR_HOME, as a user would (`env`: settings on top)."""
    env = {
        **os.environ,
        "MMR_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "COLUMNS": "200",
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"mmr {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


#: What a session sets up once per worker at some cost: its tests go to one worker, so it is set up once.
ONCE_PER_SESSION = ("superset_session", "shared_pipeline")


def pytest_itemcollected(item: pytest.Item) -> None:
    """`make test` runs two workers (`--dist loadgroup`). A module goes whole to either worker, except
    the tests of the one Superset server and of the PostgreSQL pipeline: each of these goes to one
    worker. Both workers read the same demo run (`demo_home`)."""
    fixtures = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("pipeline") == "postgres":
        fixtures.add("shared_pipeline")
    group = next((name for name in ONCE_PER_SESSION if name in fixtures), item.module.__name__)
    item.add_marker(pytest.mark.xdist_group(group))


#: The slowest groups, slowest first (measured with `--durations`): the workers take them first, so
#: neither is left with a long one at the end (`make test` keeps this order: `--no-loadscope-reorder`).
SLOWEST_FIRST = (
    "superset_session",
    "shared_pipeline",
    "tests.test_service",
    "tests.test_bench",
    "tests.test_vektis_history",
    "tests.test_incremental",
    "tests.test_audit_publish",
    "tests.test_incremental_episodes",
    "tests.test_real_kwb",
    "tests.test_unchanged_inputs",
    "tests.test_dbt_postgres",
    "tests.test_pipeline_e2e",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        group = item.get_closest_marker("xdist_group").args[0]
        return SLOWEST_FIRST.index(group) if group in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generator's demo deliveries (a landing folder), once per test module that ingests them."""
    from dagster_project.synthetic import generate

    out = tmp_path_factory.mktemp("demo")
    generate("demo", 42, out / "landing", out / "truth.json", progress=False)
    return out / "landing"


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo region generated and the whole pipeline run once, exactly as `make run` does, by the
    first worker that needs it; the other waits for it. Tests read it or copy it, and never change it:
    a test that runs a command in a home takes `demo_home_copy`.

    `MMR_TEST_DEMO_HOME` names a home that already ran, to iterate on read-only tests quickly.
    """
    from filelock import FileLock

    reuse = os.environ.get("MMR_TEST_DEMO_HOME")
    if reuse:
        return Path(reuse)
    shared = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        shared = shared.parent
    home, done, failed = (shared / f"mmr_home{suffix}" for suffix in ("", ".done", ".failed"))
    with FileLock(shared / "mmr_home.lock"):
        if failed.exists():
            raise AssertionError(f"the demo run failed on another worker:\n{failed.read_text()}")
        if not done.exists():
            try:
                mmr(home, "run")
            except Exception as error:
                failed.write_text(str(error))
                raise
            done.touch()
    return home


@pytest.fixture(scope="session")
def demo_home_copy(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo run for this worker's tests that run commands in it (a second run, a
    rollback, a report), so the run both workers read stays as it was."""
    home = tmp_path_factory.mktemp("mmr_home_copy") / "home"
    shutil.copytree(demo_home, home, ignore=shutil.ignore_patterns("run", "*.lock"))
    return home


ADMIN_DSN = os.environ.get("MMR_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_reachable(dsn: str = ADMIN_DSN) -> bool:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@dataclass
class Pipeline:
    """A home the whole pipeline ran in, in one warehouse mode, read the way each mode publishes:
    `serving.duckdb` beside the build file, or schema `published` of the shared PostgreSQL warehouse."""

    home: Path
    mode: str
    dsn: str | None = None

    @property
    def env(self) -> dict[str, str]:
        if self.mode == "postgres":
            return {"MMR_WAREHOUSE": "postgres", "MMR_POSTGRES_DSN": self.dsn}
        return {}

    def mmr(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return mmr(self.home, *args, env=self.env, **kwargs)

    @property
    def settings(self) -> Settings:
        """The installation's settings, as `mmr` in this home reads them."""
        return Settings(home=self.home, warehouse=self.mode, postgres_dsn=self.dsn)

    def _rows(self, schema: str, query: str) -> list[tuple]:
        if self.mode == "postgres":
            import psycopg

            with psycopg.connect(self.dsn) as con:
                con.execute(f"set search_path = {schema}")
                return con.execute(query).fetchall()
        path = self.home / "warehouse" / ("serving.duckdb" if schema == "main" else "build.duckdb")
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(query).fetchall()

    def published(self, query: str) -> list[tuple]:
        """Rows of a query on what dashboards read (tables unqualified)."""
        return self._rows("published" if self.mode == "postgres" else "main", query)

    def warehouse(self, query: str) -> list[tuple]:
        """Rows of a query on the build warehouse (tables schema-qualified, e.g. `raw.ingestion_log`)."""
        return self._rows("public", query)

    def published_tables(self) -> set[str]:
        schema = "published" if self.mode == "postgres" else "main"
        rows = self.published(f"select table_name from information_schema.tables where table_schema = '{schema}'")
        return {row[0] for row in rows}

    def served_run(self, previous: bool = False) -> dict | None:
        """What the published version (or the one kept for a rollback) came from: run id and metadata."""
        if self.mode == "postgres":
            from dagster_project.publish.schema_swap import served_metadata

            served = served_metadata(self.dsn, "published_previous" if previous else "published")
            return {"run_id": served["run_id"], "metadata": served["metadata"]} if served else None
        path = self.home / "warehouse" / ("serving.previous.duckdb" if previous else "serving.duckdb")
        if not path.exists():
            return None
        with duckdb.connect(str(path), read_only=True) as con:
            run_id, metadata = con.execute("select run_id, metadata from _publish").fetchone()
        return {"run_id": run_id, "metadata": json.loads(metadata)}


@pytest.fixture(scope="session")
def shared_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """The same demo run as `demo_home`, in the shared mode: on a fresh PostgreSQL database."""
    if not postgres_reachable():
        pytest.skip(f"no PostgreSQL at {ADMIN_DSN}")
    from dagster_project.lib.postgres import scratch_database

    with scratch_database(ADMIN_DSN, "mmr_e2e") as dsn:
        pipeline = Pipeline(tmp_path_factory.mktemp("mmr_home_postgres"), "postgres", dsn)
        pipeline.mmr("run")
        yield pipeline


@pytest.fixture(scope="session", params=["duckdb", "postgres"])
def pipeline(request: pytest.FixtureRequest) -> Pipeline:
    """The demo pipeline in each warehouse mode: end-to-end tests run once per mode, same assertions,
    and may run commands in it (the embedded one is this worker's copy of the demo run)."""
    if request.param == "duckdb":
        return Pipeline(request.getfixturevalue("demo_home_copy"), "duckdb")
    return request.getfixturevalue("shared_pipeline")


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
