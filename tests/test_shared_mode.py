"""The shared mode keeps Dagster's runs, events and schedules in the regional PostgreSQL warehouse."""

import os
import subprocess
import sys

import psycopg

from dagster_project.lib.postgres import scratch_database
from tests.conftest import ADMIN_DSN, PROJECT_ROOT


def _shared_env(home, dsn: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
        "MMR_HOME": str(home),
        "MMR_WAREHOUSE": "postgres",
        "MMR_POSTGRES_DSN": dsn,
    }


#: What every command does first: prepare the home, then open the Dagster instance.
OPEN_INSTANCE = (
    "from dagster_project.cli import prepare; prepare()\n"
    "import dagster as dg\n"
    "with dg.DagsterInstance.get() as instance:\n"
    "    print(type(instance.run_storage).__name__)\n"
)


def test_dagster_storage_moves_to_postgres_in_shared_mode(tmp_path):
    with scratch_database(ADMIN_DSN, "mmr_dagster") as dsn:
        result = subprocess.run(
            [sys.executable, "-c", OPEN_INSTANCE],
            cwd=PROJECT_ROOT,
            env=_shared_env(tmp_path, dsn),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "PostgresRunStorage"
        with psycopg.connect(dsn) as con:
            tables = {r[0] for r in con.execute("select tablename from pg_tables where schemaname = 'public'")}
        assert {"runs", "event_logs", "jobs"} <= tables


def test_processes_starting_at_once_on_a_new_shared_warehouse_all_start(tmp_path):
    """Dagster makes its tables when a process first opens the instance; four processes of the
    region starting together on a new warehouse (two gemeenten ingesting, the daemon, a user at the
    CLI) each find them made or make them, none fails on another's."""
    with scratch_database(ADMIN_DSN, "mmr_dagster") as dsn:
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN_INSTANCE],
                cwd=PROJECT_ROOT,
                env=_shared_env(tmp_path / str(number), dsn),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for number in range(4)
        ]
        outputs = [process.communicate(timeout=300)[0] for process in processes]
        assert [process.returncode for process in processes] == [0] * 4, "\n".join(outputs)[-4000:]
