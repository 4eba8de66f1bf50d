"""The shared mode keeps Dagster's runs, events and schedules in the regional PostgreSQL warehouse."""

import os
import subprocess
import sys
import uuid

import psycopg
from psycopg import sql

from dagster_project.lib.postgres import with_database
from tests.conftest import ADMIN_DSN, PROJECT_ROOT


def test_dagster_storage_moves_to_postgres_in_shared_mode(tmp_path):
    database = f"mmr_dagster_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    dsn = with_database(ADMIN_DSN, database)
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
        "MMR_HOME": str(tmp_path),
        "MMR_WAREHOUSE": "postgres",
        "MMR_POSTGRES_DSN": dsn,
    }
    script = (
        "from dagster_project.cli import prepare; prepare()\n"
        "import dagster as dg\n"
        "with dg.DagsterInstance.get() as instance:\n"
        "    print(type(instance.run_storage).__name__)\n"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "PostgresRunStorage"
        with psycopg.connect(dsn) as con:
            tables = {r[0] for r in con.execute("select tablename from pg_tables where schemaname = 'public'")}
        assert {"runs", "event_logs", "jobs"} <= tables
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(database)))
