"""No raw BSN of the input survives ingestion: a scan of everything a demo run wrote under var/.

Two homes. The shared demo run keeps its deliveries (other tests copy them), so its scan covers
every file but `landing/`. A second home ingests the same deliveries as an installation does by
default (`MMR_LANDING_RETENTION_DAYS=0`): each file leaves `landing/` once ingested, and the scan
covers every file of the home, for BSNs, birth dates and full addresses (postcode and number).

The BSNs are collected from the delivered files in `landing/` (the deliveries as received, the
only place they may be). Then every table of every DuckDB database, every Parquet file and every
other file under the home is searched: databases and Parquet with one DuckDB query per table or
folder (numbers in the text and integer columns, matched against the BSN table), other files as bytes
with a regex and set membership. A number is a whole token of 8 or 9 digits (8: a BSN whose
leading zero a spreadsheet dropped): digits inside a hexadecimal key or hash, or after the decimal
point of a number (dbt's log times every query to the nanosecond: `0.000547463`), are not, and
with a random key per installation some 9-digit stretch of some pseudonym would otherwise match
a BSN by chance.
"""

import re
from pathlib import Path

import duckdb
import pytest

from dagster_project.synthetic import generate
from tests.conftest import mmr

pytestmark = pytest.mark.e2e

DIGIT_RUN = re.compile(rb"(?<![0-9A-Za-z])(?<![0-9]\.)\d{8,9}(?![0-9A-Za-z])")
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
    (tmp_path / "dbt.log").write_text(f'{{"execution_time": 0.{bsn}}}\n')
    assert scan_database(con, planted) == {"planted.duckdb:raw.t": [bsn]}
    assert scan_parquet(con, tmp_path) == {str(tmp_path): [bsn]}
    assert scan_bytes(tmp_path / "run.log", {bsn.encode()}) == [bsn]
    assert scan_bytes(tmp_path / "dbt.log", {bsn.encode()}) == []


#: A delivered birth date (dd-mm-yyyy) and a full address (postcode-6 then house number, joined
#: by a space or `;`) as they may stand in a file: the needles of the text scan.
BIRTH_DATE = re.compile(rb"(?<![0-9])\d{2}-\d{2}-\d{4}(?![0-9])")
ADDRESS = re.compile(rb"(?<![0-9A-Za-z])(\d{4}[A-Z]{2})[ ;](\d{1,5})(?![0-9])")


def delivered_persons(landing: Path) -> tuple[set[bytes], set[bytes]]:
    """Every birth date and every full address in the delivered person files."""
    with duckdb.connect() as con:
        files = [str(p) for p in landing.glob("*/*.csv") if "geboortedatum" in header(p)]
        rows = con.execute(
            "select distinct trim(geboortedatum), upper(replace(trim(postcode), ' ', '')) || ' ' || trim(huisnummer) "
            "from read_csv(?, delim = ';', header = true, all_varchar = true, union_by_name = true)",
            [files],
        ).fetchall()
    return {d.encode() for d, _ in rows if d}, {a.encode() for _, a in rows if a}


def scan_person_text(path: Path, birth_dates: set[bytes], addresses: set[bytes]) -> list[str]:
    data = path.read_bytes()
    found = {m.group(0) for m in BIRTH_DATE.finditer(data)} & birth_dates
    found |= {m.group(1) + b" " + m.group(2) for m in ADDRESS.finditer(data)} & addresses
    return sorted(f.decode() for f in found)


def person_columns(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, list[str]]:
    """Columns that would hold a birth date, a house number or a full postcode of a person (the
    public postcode table `cbs_pc6_gwb` holds postcodes, of no one)."""
    con.execute(f"attach '{path}' as people (read_only)")
    try:
        rows = con.execute(
            "select table_schema || '.' || table_name, column_name from information_schema.columns "
            "where table_catalog = 'people' "
            "and regexp_matches(lower(column_name), '^(geboortedatum|huisnummer|postcode)$')"
        ).fetchall()
    finally:
        con.execute("detach people")
    return {f"{path.name}:{table}": [column] for table, column in rows}


@pytest.fixture(scope="module")
def ingested_by_default(tmp_path_factory) -> dict:
    """The demo deliveries, read for their persons, then ingested with the default retention."""
    home = tmp_path_factory.mktemp("default_retention")
    generate("demo", 42, home / "landing", home / "generator" / "truth.json", progress=False)
    bsns = delivered_bsns(home / "landing")
    birth_dates, addresses = delivered_persons(home / "landing")
    result = mmr(home, "ingest", env={"MMR_LANDING_RETENTION_DAYS": "0"}, timeout=1800)
    yield {"home": home, "bsns": bsns, "birth_dates": birth_dates, "addresses": addresses, "result": result}
    bsns.close()


def test_a_default_ingest_leaves_no_person_data_in_any_file_of_the_home(ingested_by_default):
    home, con = ingested_by_default["home"], ingested_by_default["bsns"]
    birth_dates, addresses = ingested_by_default["birth_dates"], ingested_by_default["addresses"]
    assert "Ingested" in ingested_by_default["result"].stdout
    assert len(birth_dates) > 1000 and len(addresses) > 1000
    assert not [p for p in (home / "landing").rglob("*") if p.is_file()], "every ingested delivery left landing/"
    bsns = {bsn.encode() for (bsn,) in con.execute("select bsn from bsns").fetchall()}

    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" for p in files) and any(p.suffix == ".parquet" for p in files)
    found: dict[str, list[str]] = {}
    for database in (p for p in files if p.suffix == ".duckdb"):
        found |= scan_database(con, database)
        found |= person_columns(con, database)
    for folder in sorted({p.parent for p in files if p.suffix == ".parquet"}):
        found |= scan_parquet(con, folder)
    for path in (p for p in files if p.suffix not in {".duckdb", ".parquet"}):
        hits = scan_bytes(path, bsns) + scan_person_text(path, birth_dates, addresses)
        if hits:
            found[str(path.relative_to(home))] = hits
    assert not found, f"person data found after ingestion: {found}"


def test_the_text_scan_finds_a_planted_birth_date_and_address(tmp_path):
    (tmp_path / "leak.log").write_bytes(b"row 3: 21-04-2008 at 2976AR;25\n")
    assert scan_person_text(tmp_path / "leak.log", {b"21-04-2008"}, {b"2976AR 25"}) == ["21-04-2008", "2976AR 25"]
    assert scan_person_text(tmp_path / "leak.log", {b"22-04-2008"}, {b"2976AR 26"}) == []
