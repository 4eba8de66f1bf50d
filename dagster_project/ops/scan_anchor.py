"""The physical limit the benchmark measures the build against: one DuckDB scan of the landed files.

Machines differ and a shared one is noisy, so the bench reports the build's speed as a ratio to
the cheapest thing that has to happen anyway in the same run: reading every delivered row once.
Each source folder of `landing/` is read by one `read_csv` (every column as text, the file name
kept, the delimiter sniffed), with a distinct count of the BSN where the source has one. Folders
of files DuckDB cannot read as CSV (spreadsheets, GeoPackages) are listed and left out: their
bytes are a small share of a national delivery.

Every landed file is read once before the scan, so that the scan finds them in memory as the
ingestion after it does: the anchor is the cost of reading the rows, not of a disk cache that may
or may not still hold them (on one machine the same files took 156 s to scan partly from disk and
90 s from memory).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb


def scan_landing(landing: Path, threads: int = 2) -> dict:
    """Seconds, rows and files of one scan of every CSV under `landing/<source>/`, and of the read
    of every file before it (`warmed`)."""
    sources: dict[str, dict] = {}
    skipped: list[str] = []
    warmed = warm(landing)
    started = time.perf_counter()
    with duckdb.connect(config={"threads": threads, "preserve_insertion_order": False}) as con:
        con.execute("set enable_progress_bar = false")
        for folder in sorted(p for p in landing.iterdir() if p.is_dir()):
            files = sorted(folder.glob("*.csv"))
            if not files:
                skipped.append(folder.name)
                continue
            sources[folder.name] = _scan_source(con, folder, len(files))
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "rows": sum(s["rows"] for s in sources.values()),
        "files": sum(s["files"] for s in sources.values()),
        "threads": threads,
        "warmed": warmed,
        "sources": sources,
        "not_csv": skipped,
    }


def _scan_source(con: duckdb.DuckDBPyConnection, folder: Path, files: int) -> dict:
    pattern = str(folder / "*.csv").replace("'", "''")
    relation = f"read_csv('{pattern}', all_varchar = true, filename = true, header = true, ignore_errors = true)"
    started = time.perf_counter()
    columns = [row[0] for row in con.execute(f"describe select * from {relation}").fetchall()]
    distinct = ", count(distinct bsn)" if "bsn" in columns else ""
    rows, *persons = con.execute(f"select count(*){distinct} from {relation}").fetchone()
    result = {"files": files, "rows": int(rows), "seconds": round(time.perf_counter() - started, 2)}
    if persons:
        result["distinct_bsn"] = int(persons[0])
    return result


def warm(landing: Path) -> dict:
    """Read every file under `landing/` once (into the page cache); its bytes and seconds."""
    files = [p for p in landing.rglob("*") if p.is_file()]
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        size = sum(pool.map(_read_all, files, chunksize=256))
    return {"files": len(files), "bytes": size, "seconds": round(time.perf_counter() - started, 2)}


def _read_all(path: Path) -> int:
    size = 0
    with path.open("rb", buffering=0) as handle:
        while chunk := handle.read(1 << 20):
            size += len(chunk)
    return size
