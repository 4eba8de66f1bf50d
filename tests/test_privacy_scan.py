"""No raw BSN of the input survives ingestion: a scan of everything a demo run wrote under var/.

The BSNs are collected from the delivered files in `landing/` (the deliveries as received, the
only place they may be). Then every table of every DuckDB database, every Parquet file and every
other file under the home is searched: databases and Parquet with one DuckDB query per table or
folder (numbers in the text and integer columns, matched against the BSN table), other files as bytes
with a regex and set membership. A number is a whole token of 8 or 9 digits (8: a BSN whose
leading zero a spreadsheet dropped): digits inside a hexadecimal key or hash are not numbers, and
with a random key per installation some 9-digit stretch of some pseudonym would otherwise match
a BSN by chance.
"""

import re
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.e2e

DIGIT_RUN = re.compile(rb"(?<![0-9A-Za-z])\d{8,9}(?![0-9A-Za-z])")
SCANNED_TYPES = ("VARCHAR", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UINTEGER", "UBIGINT")


def header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        return handle.readline().strip().split(";")


def delivered_bsns(landing: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with table `bsns(bsn)`: every BSN in a delivered CSV with a `bsn` column."""
    con = duckdb.connect()
    con.execute("create table bsns (bsn varchar primary key)")
    for folder in sorted(p for p in landing.iterdir() if p.is_dir()):
        files = [str(p) for p in folder.glob("*.csv") if "bsn" in header(p)]
        if files:
            con.execute(
                "insert or ignore into bsns select distinct trim(bsn) from read_csv(?, delim = ';', header = true, "
                "all_varchar = true, union_by_name = true) where regexp_full_match(trim(bsn), '\\d{9}')",
                [files],
            )
    return con


def leaked(con: duckdb.DuckDBPyConnection, relation: str, columns: list[str]) -> list[str]:
    """BSNs found in the text and integer columns of a relation, in one scan."""
    if not columns:
        return []
    text = ", ".join(f'cast("{c}" as varchar)' for c in columns)
    return [
        run
        for (run,) in con.execute(
            f"""
            with runs as (
                select distinct unnest(
                    regexp_extract_all(concat_ws(' ', {text}), '[0-9A-Za-z]*[0-9]{{8}}[0-9A-Za-z]*')
                ) as run
                from {relation}
            )
            select run from runs
            where (length(run) = 9 and run in (select bsn from bsns))
               or (length(run) = 8 and '0' || run in (select bsn from bsns))
            limit 5
            """
        ).fetchall()
    ]


def scan_database(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, list[str]]:
    con.execute(f"attach '{path}' as scanned (read_only)")
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = 'scanned' and table_type = 'BASE TABLE'"
        ).fetchall()
        found = {}
        for schema, table in tables:
            columns = [
                name
                for name, kind in con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_catalog = 'scanned' and table_schema = ? and table_name = ?",
                    [schema, table],
                ).fetchall()
                if kind.startswith(SCANNED_TYPES)
            ]
            hits = leaked(con, f'scanned."{schema}"."{table}"', columns)
            if hits:
                found[f"{path.name}:{schema}.{table}"] = hits
        return found
    finally:
        con.execute("detach scanned")


def scan_parquet(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, list[str]]:
    relation = f"read_parquet('{folder}/*.parquet', union_by_name = true)"
    columns = [
        name
        for name, kind, *_ in con.execute(f"describe select * from {relation}").fetchall()
        if kind.startswith(SCANNED_TYPES)
    ]
    hits = leaked(con, relation, columns)
    return {str(folder): hits} if hits else {}


def scan_bytes(path: Path, bsns: set[bytes]) -> list[str]:
    runs = set(DIGIT_RUN.findall(path.read_bytes()))
    return sorted(r.decode() for r in runs if (r if len(r) == 9 else b"0" + r) in bsns)


@pytest.fixture(scope="module")
def bsn_db(demo_home) -> duckdb.DuckDBPyConnection:
    con = delivered_bsns(demo_home / "landing")
    yield con
    con.close()


def test_no_raw_bsn_anywhere_under_var_after_a_run(demo_home, bsn_db):
    landing = demo_home / "landing"
    con = bsn_db
    (count,) = con.execute("select count(*) from bsns").fetchone()
    assert count > 1000, "the demo deliveries hold persons with a BSN"
    bsns = {bsn.encode() for (bsn,) in con.execute("select bsn from bsns").fetchall()}

    files = [p for p in demo_home.rglob("*") if p.is_file() and landing not in p.parents]
    databases = [p for p in files if p.suffix == ".duckdb"]
    parquet_folders = sorted({p.parent for p in files if p.suffix == ".parquet"})
    others = [p for p in files if p.suffix not in {".duckdb", ".parquet"}]
    assert {"build.duckdb", "serving.duckdb"} <= {p.name for p in databases}
    assert parquet_folders and any(p.parts[-2] == "archive" for p in parquet_folders)
    assert any("dagster" in p.parts for p in others), "Dagster's run and event storage is scanned"

    found: dict[str, list[str]] = {}
    for database in databases:
        found |= scan_database(con, database)
    for folder in parquet_folders:
        found |= scan_parquet(con, folder)
    for path in others:
        hits = scan_bytes(path, bsns)
        if hits:
            found[str(path.relative_to(demo_home))] = hits
    assert not found, f"raw BSNs found after ingestion: {found}"


def test_the_scan_finds_a_planted_bsn(tmp_path, bsn_db):
    """The scan itself works: a BSN planted in a table, a Parquet file and a log is found; the
    same digits inside a hexadecimal key are not."""
    con = bsn_db
    (bsn,) = con.execute("select bsn from bsns where bsn not like '0%' order by bsn limit 1").fetchone()
    planted = tmp_path / "planted.duckdb"
    with duckdb.connect(str(planted)) as db:
        db.execute("create schema raw")
        db.execute("create table raw.t (note varchar, n bigint)")
        db.execute("insert into raw.t values ('ok', 1), (?, 2)", [f"client {bsn} moved"])
        db.execute("create table raw.hashes as select ? as key", [f"a{bsn}f"])
        db.execute(f"copy (select {int(bsn)}::bigint as id) to '{tmp_path / 'p.parquet'}' (format parquet)")
    (tmp_path / "run.log").write_text(f"row 7: {bsn}\n")
    assert scan_database(con, planted) == {"planted.duckdb:raw.t": [bsn]}
    assert scan_parquet(con, tmp_path) == {str(tmp_path): [bsn]}
    assert scan_bytes(tmp_path / "run.log", {bsn.encode()}) == [bsn]
