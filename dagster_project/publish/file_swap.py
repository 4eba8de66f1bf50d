"""The embedded mode's publish: `serving.duckdb` replaced by one file rename.

Readers (Superset) open `serving.duckdb` read-only. A new version is written to a temporary
file next to it, fsynced, and moved into place with one `rename`, so a reader, and a publish
killed at any point, sees the old file or the new one, never a mix; a reader that still holds
the old file keeps reading it. The previous version is kept beside it for `mmr rollback`.
Temporary files a killed publish leaves behind are removed by the next publish.

Test hook: `MMR_PUBLISH_PAUSE_SECONDS` (with `MMR_PUBLISH_PAUSE_AT`, a comma-separated list of
`copy`, `swap`, `previous`, `renamed`) makes a publish sleep at those points and say so on
stderr, so tests can kill it there. Unset, it costs nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.settings import Settings

SERVING_SCHEMA = "serving"

#: Where a publish may stop and sleep under the test hook, in the order they are reached.
PAUSE_POINTS = ("copy", "swap", "previous", "renamed")


def previous_path(settings: Settings) -> Path:
    return settings.serving_db.with_name("serving.previous.duckdb")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pause(point: str) -> None:
    """Test hook (see the module docstring): sleep at ``point`` when asked to."""
    seconds = os.environ.get("MMR_PUBLISH_PAUSE_SECONDS")
    if not seconds or point not in os.environ.get("MMR_PUBLISH_PAUSE_AT", "").split(","):
        return
    print(f"publish paused at {point}", file=sys.stderr, flush=True)
    time.sleep(float(seconds))


@contextmanager
def _publish_lock(settings: Settings) -> Iterator[None]:
    """One publish or rollback at a time; the lock goes away with its process, even on SIGKILL."""
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.warehouse_dir / ".publish.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def leftover_files(settings: Settings) -> list[Path]:
    """Temporary files of an interrupted publish or rollback (never the serving database itself)."""
    patterns = (".serving-*.duckdb.tmp*", ".serving.previous.tmp", ".serving.rollback.tmp")
    return sorted(path for pattern in patterns for path in settings.warehouse_dir.glob(pattern))


def serving_tables(settings: Settings) -> list[str]:
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        rows = con.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1",
            [SERVING_SCHEMA],
        ).fetchall()
    return [r[0] for r in rows]


def write_serving_copy(
    settings: Settings, target: Path, run_id: str, metadata: dict, published_at: datetime
) -> list[str]:
    """Copy every table of the build's serving schema into a fresh file (tables in `main`)."""
    tables = serving_tables(settings)
    target.unlink(missing_ok=True)
    with duckdb.connect(str(target)) as con:
        con.execute(f"attach '{settings.build_db}' as build (read_only)")
        for table in tables:
            con.execute(f'create table main."{table}" as select * from build.{SERVING_SCHEMA}."{table}"')
            _pause("copy")
        con.execute(
            "create table main._publish as select ? as run_id, ? as published_at, ? as metadata",
            [run_id, published_at, json.dumps(metadata)],
        )
        con.execute("detach build")
        con.execute("checkpoint")
    _fsync(target)
    return tables


def swap_into_place(settings: Settings, new_file: Path) -> None:
    """Keep the current version as the previous one, then rename the new file over it."""
    serving = settings.serving_db
    _pause("swap")
    if serving.exists():
        keep = serving.with_name(".serving.previous.tmp")
        keep.unlink(missing_ok=True)
        os.link(serving, keep)
        _pause("previous")
        os.replace(keep, previous_path(settings))
    os.replace(new_file, serving)
    _pause("renamed")
    _fsync(serving.parent)


def publish(settings: Settings, run_id: str, metadata: dict, published_at: datetime) -> list[str]:
    """Write the serving database for ``run_id`` and swap it into place; returns the tables."""
    staging = settings.warehouse_dir / f".serving-{run_id}.duckdb.tmp"
    with _publish_lock(settings):
        for leftover in leftover_files(settings):
            leftover.unlink(missing_ok=True)
        try:
            tables = write_serving_copy(settings, staging, run_id, metadata, published_at)
            swap_into_place(settings, staging)
        finally:
            for path in (staging, staging.with_name(staging.name + ".wal")):
                path.unlink(missing_ok=True)
    return tables


def rollback(settings: Settings) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Swap `serving.duckdb` and `serving.previous.duckdb`; what was served and what is now."""
    with _publish_lock(settings):
        previous = previous_path(settings)
        if not previous.exists():
            raise FileNotFoundError("there is no previous publish to roll back to")
        replaced = served_run(settings)
        current = settings.serving_db
        hold = current.with_name(".serving.rollback.tmp")
        hold.unlink(missing_ok=True)
        os.link(current, hold)
        os.replace(previous, current)
        os.replace(hold, previous)
        _fsync(current.parent)
        return replaced, served_run(settings)


def served_run(settings: Settings) -> dict[str, Any] | None:
    """Which run `serving.duckdb` holds: run id, time and metadata, read read-only; None if nothing is."""
    if not settings.serving_db.exists():
        return None
    with duckdb.connect(str(settings.serving_db), read_only=True) as con:
        row = con.execute("select run_id, published_at, metadata from main._publish").fetchone()
    return {"run_id": row[0], "published_at": row[1], "metadata": json.loads(row[2])} if row else None
