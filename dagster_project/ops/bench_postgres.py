"""The bench's comparison of the two warehouses: the same `dbt build` from the same raw layer on
DuckDB and on PostgreSQL, as a ratio of their times.

Nationally, copying a hundred million rows into PostgreSQL and building them there would take
hours, so the comparison builds a national slice: the reference data of the whole country (areas,
CBS, Vektis) with the municipal deliveries of every `SLICE_EVERY`-th gemeente by code.
"""

import shutil
import time
from pathlib import Path

import duckdb

from dagster_project.ops.measure import Measured, require
from dagster_project.settings import Settings

#: Nationally, the municipal deliveries of one gemeente in this many (by code) go into the comparison.
SLICE_EVERY = 20


def slice_raw_layer(build_db: Path, every: int) -> dict:
    """Keep the municipal deliveries (raw tables with a `gemeentecode`) of the gemeenten whose code
    number is a multiple of `every`; everything else stays whole."""
    with duckdb.connect(str(build_db)) as con:
        tables = [
            table
            for (table,) in con.execute(
                "select table_name from duckdb_columns() where schema_name = 'raw' and column_name = 'gemeentecode'"
            ).fetchall()
        ]
        before = deleted = 0
        for table in tables:
            before += con.execute(f"select count(*) from raw.{table}").fetchone()[0]
            deleted += con.execute(
                f"delete from raw.{table} "
                f"where not coalesce(try_cast(substr(gemeentecode, 3) as integer) % {every} = 0, false)"
            ).fetchone()[0]
        codes = " union ".join(f"select gemeentecode from raw.{table}" for table in tables)
        gemeenten = con.execute(f"select count(distinct gemeentecode) from ({codes})").fetchone()[0]
    kept = before - deleted
    return {"every": every, "tables": sorted(tables), "rows_before": before, "rows_kept": kept, "gemeenten": gemeenten}


LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_ratio(build_db: Path, settings: Settings, bench_dir: Path, every: int = 1) -> dict:
    """`dbt build` on PostgreSQL against `dbt build` on DuckDB, from the same raw layer.

    DuckDB builds (full refresh) a copy of the benchmark's warehouse, its raw layer cut to a slice
    when `every` > 1; PostgreSQL builds in a scratch database that raw layer is first copied into
    with COPY (timed apart). The ratio is PostgreSQL's seconds over DuckDB's. The server is
    `MMR_POSTGRES_DSN`, else a local one.
    """
    import psycopg

    from dagster_project.lib import postgres

    dsn = settings.postgres_dsn or LOCAL_POSTGRES
    try:
        with psycopg.connect(dsn, connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        return {"ratio": None, "server": postgres.server_address(dsn), "unavailable": str(exc).strip().splitlines()[0]}
    work = bench_dir / "postgres_ratio"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    duckdb_copy = work / "build.duckdb"
    shutil.copy(build_db, duckdb_copy)
    sliced = slice_raw_layer(duckdb_copy, every) if every > 1 else None
    started = time.perf_counter()
    on_duckdb = postgres.run_dbt(["build", "--full-refresh"], work / "dbt_duckdb", build_db=duckdb_copy)
    duckdb_seconds = time.perf_counter() - started
    require(Measured(duckdb_seconds, 0, on_duckdb.returncode, on_duckdb.stdout), "dbt build on DuckDB")
    with postgres.scratch_database(dsn, "mmr_bench") as scratch:
        started = time.perf_counter()
        copied = postgres.copy_raw_layer(duckdb_copy, scratch)
        copy_seconds = time.perf_counter() - started
        postgres.copy_schema(duckdb_copy, scratch, "analytics")
        started = time.perf_counter()
        on_postgres = postgres.run_dbt(["build"], work / "dbt_postgres", dsn=scratch)
        postgres_seconds = time.perf_counter() - started
    require(Measured(postgres_seconds, 0, on_postgres.returncode, on_postgres.stdout), "dbt build on PostgreSQL")
    duckdb_copy.unlink()
    rows = sum(copied.values())
    return {
        "ratio": round(postgres_seconds / duckdb_seconds, 2),
        "server": postgres.server_address(dsn),
        "dbt_build_duckdb_seconds": round(duckdb_seconds, 2),
        "dbt_build_postgres_seconds": round(postgres_seconds, 2),
        "raw_copy_seconds": round(copy_seconds, 2),
        "raw_copy_rows": rows,
        "raw_copy_rows_per_second": round(rows / copy_seconds) if copy_seconds else None,
        "slice": sliced,
    }


def postgres_note(result: dict) -> str:
    if result["ratio"] is None:
        return f"PostgreSQL comparison skipped: no server at {result['server']} ({result['unavailable']})."
    sliced = result.get("slice")
    scale = f"{result['scale']} scale" + (
        f" (a slice: the municipal deliveries of {sliced['gemeenten']} gemeenten, every {sliced['every']}th "
        f"by code, {sliced['rows_kept']:,} of {sliced['rows_before']:,} rows)"
        if sliced
        else ""
    )
    return (
        f"At {scale} the same dbt build takes {result['dbt_build_postgres_seconds']} s on "
        f"PostgreSQL ({result['server']}) "
        f"and {result['dbt_build_duckdb_seconds']} s on DuckDB: ratio {result['ratio']}. Copying the raw layer "
        f"({result['raw_copy_rows']} rows, COPY) took {result['raw_copy_seconds']} s more."
    )
