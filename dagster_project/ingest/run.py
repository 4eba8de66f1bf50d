"""The ingestion run shared by every source (see docs/architecture.md, "Ingestion").

A delivered file is one batch. It is read whole or quarantined whole with one clear message;
row-level contract failures go to `var/quarantine/<source>/<batch>/` with `reasons.csv`
(row, column, rule, message) and the good rows continue. Accepted rows are archived as Parquet.

Sources with a SQL contract are ingested many files at a time (a chunk): the files are read
with Arrow into one table, every rule of every file is checked in one DuckDB scan, the accepted
rows are typed, pseudonymised and written to the raw layer, the archive (one Parquet file per
chunk, its rows carrying their batch) and the ingestion log with a handful of statements per
chunk instead of per file. Each file stays its own batch. The next chunk is read and parsed in a
thread while one is written. Rules that read columns with few distinct values (codes, dates,
amounts) are checked once per distinct value, not once per row.
A file already ingested is recognised by its content hash, or without reading it by its name,
size and modification time when it had settled (not changed for a while) before it was read.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from dagster_project.ingest import retention
from dagster_project.ingest.checks import (
    SqlValidator,
    arrow_type,
    chunk_table,
    failures,
    to_arrow,
    typed_select,
)
from dagster_project.ingest.contract import SqlContract, placeholders, prepare, quote
from dagster_project.ingest.reading import (
    DelimitedReader,
    UnreadableFile,
    count_records,
    landed_files,
    parse_delimited,
    read_ahead,
    split_header,
)
from dagster_project.ingest.rejected import quarantine, quarantine_rows
from dagster_project.ingest.spec import LINEAGE, Batch, RawStep, SourceSpec, unchanged
from dagster_project.lib import warehouse as raw_layer
from dagster_project.ops import runlog
from dagster_project.resources import Warehouse, warehouse_for
from dagster_project.settings import Settings

CHUNK_BYTES = 64 << 20  # delivered bytes checked and written together; bounds memory per chunk
SETTLED_NS = 2_000_000_000  # a file unchanged this long before it was read is known by its size and time
_REGISTERED = ("_delivered", "_bad", "_raw_frame")


@dataclass
class Known:
    """What the warehouse already holds of one source: to skip unchanged files and deletes."""

    hashes: set[str]
    stats: set[tuple[str, int, int]]
    periods: set[str]

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> Known:
        hashes, stats = raw_layer.ingested_files(con, spec.source)
        return cls(hashes, stats, raw_layer.periods_of(con, spec.table))


@dataclass
class Delivery:
    """One file of a chunk, read and found readable."""

    batch: Batch
    groups: dict[str, str]
    size: int
    mtime_ns: int | None
    header: list[str] | None = None
    body: bytes | None = None
    table: pa.Table | None = None

    @property
    def log(self) -> dict:
        return {
            "batch_id": self.batch.batch_id,
            "source": self.batch.source,
            "file_name": self.batch.path.name,
            "content_hash": self.batch.content_hash,
            "period": self.batch.period,
            "file_size": self.size,
            "file_mtime_ns": self.mtime_ns,
        }


class _WriteFailed(Exception):
    """Writing a chunk failed: a fault of the machine (disk, lock), not of a delivered file."""


@dataclass
class Run:
    """One source ingesting into one warehouse connection: the spec, the connection, the folders
    and key (from `settings`), what is already ingested and where progress is logged, held once
    so each step only takes what differs per chunk."""

    spec: SourceSpec
    con: duckdb.DuckDBPyConnection
    settings: Settings
    known: Known
    log: Callable[[str], None] | None = None

    @classmethod
    def start(
        cls, spec: SourceSpec, con: duckdb.DuckDBPyConnection, settings: Settings, log: Callable[[str], None] | None
    ) -> Run:
        return cls(spec, con, settings, Known.load(con, spec), log)

    @cached_property
    def key(self) -> bytes:
        """The pseudonymisation key, read (or made) only when a source with persons writes rows."""
        return self.settings.get_pseudonym_key() if self.spec.personal else b""

    @property
    def contract(self) -> SqlContract:
        return self.spec.validate.contract

    def reject(self, delivery: Delivery, message: str, raw: bytes | None) -> dict:
        """Quarantine a whole file with one message; returns its result and log row."""
        if self.spec.personal:
            message += " (the delivery stays in the landing folder; it is not copied because it holds personal data)"
        reasons = pd.DataFrame([{"row": 0, "column": "", "rule": "readable_file", "message": message}])
        folder = quarantine(self.settings, delivery.batch, None, reasons)
        if not self.spec.personal:
            path = delivery.batch.path
            (folder / path.name).write_bytes(raw if raw is not None else path.read_bytes())
        log = {
            **delivery.log,
            "rows_read": 0,
            "rows_accepted": 0,
            "rows_rejected": 0,
            "status": "rejected",
            "message": message,
            "file_mtime_ns": None,
        }
        return {"file": delivery.batch.path.name, "status": "rejected", "message": message, "_log": log}

    def open(self, path: Path) -> Delivery | dict:
        """Hash a file and run its whole-file checks: a delivery to ingest, or its result
        (unchanged, or rejected whole). Never raises for bad content."""
        spec = self.spec
        stat = path.stat()
        if (path.name, stat.st_size, stat.st_mtime_ns) in self.known.stats:
            return {"file": path.name, "status": "unchanged"}
        read_at = time.time_ns()
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest in self.known.hashes:
            return {"file": path.name, "status": "unchanged"}
        match = spec.file_pattern.match(path.name)
        settled = stat.st_mtime_ns < read_at - SETTLED_NS
        delivery = Delivery(
            Batch(spec.source, path, digest, spec.period(match) if match else "unknown"),
            match.groupdict() if match else {},
            len(raw),
            stat.st_mtime_ns if settled else None,
        )
        try:
            if not match:
                raise UnreadableFile(f"{path.name}: file name must be {spec.file_hint}")
            if isinstance(spec.read, DelimitedReader):
                reader = spec.read
                delivery.header, delivery.body = split_header(
                    path, raw, list(reader.columns), reader.delimiter, reader.normalise
                )
            else:
                delivery.table = spec.read(path)
        except UnreadableFile as exc:
            return self.reject(delivery, str(exc), raw)
        except Exception as exc:  # a safety net: no delivery may crash the pipeline
            message = f"{path.name}: cannot be processed ({type(exc).__name__}); check the file against the contract"
            return self.reject(delivery, message, raw)
        return delivery

    def read_chunk(self, deliveries: list[Delivery]) -> tuple[list[Delivery], list[dict]]:
        """Parse the delimited files of a chunk: files with the same header in one Arrow pass
        (rows counted by lines), the others one by one. Returns the readable deliveries and the
        rejections."""
        reader = self.spec.read
        together: dict[tuple[str, ...], list[Delivery]] = {}
        alone: list[Delivery] = []
        counts: dict[int, int] = {}
        for delivery in deliveries:
            counted = count_records(delivery.body)
            if counted is None:
                alone.append(delivery)
            else:
                counts[id(delivery)] = counted
                together.setdefault(tuple(delivery.header), []).append(delivery)
        rejected: list[dict] = []
        for key, members in [*together.items(), *((None, [d]) for d in alone)]:
            table = None
            if key is not None:
                try:
                    body = b"".join(d.body for d in members)
                    table = parse_delimited(body, list(key), list(reader.columns), reader.delimiter, "chunk")
                except UnreadableFile:
                    table = None
                if table is not None and table.num_rows != sum(counts[id(d)] for d in members):
                    table = None
            if table is not None:
                offsets = np.cumsum([0, *(counts[id(d)] for d in members)])
                for delivery, start, stop in zip(members, offsets[:-1], offsets[1:], strict=True):
                    delivery.table = _numbered(table.slice(int(start), int(stop - start)))
                continue
            for delivery in members:
                try:
                    name = delivery.batch.path.name
                    delivery.table = _numbered(
                        parse_delimited(delivery.body, delivery.header, list(reader.columns), reader.delimiter, name)
                    )
                except UnreadableFile as exc:
                    rejected.append(self.reject(delivery, str(exc), None))
        for delivery in deliveries:
            delivery.body = None
        return [d for d in deliveries if d.table is not None], rejected

    def delivered(self, deliveries: list[Delivery], con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
        """The rows of a chunk's files as one Arrow table (see `chunk_table`), with the columns
        the source's `raw_sql` computes from them (with `con`, the reading thread's own cursor)."""
        validator: SqlValidator = self.spec.validate
        lineage = {
            "_period": [d.batch.period for d in deliveries],
            "_batch_id": [d.batch.batch_id for d in deliveries],
            "_source_file": [d.batch.path.name for d in deliveries],
        }
        table = chunk_table(
            [d.table for d in deliveries], [validator.values(d.groups) for d in deliveries], self.contract, lineage
        )
        if self.spec.raw_sql is not None:
            for name, values in self.spec.raw_sql.columns(table, self.key, con or self.con).items():
                table = table.append_column(name, values)
        return table

    def forget(self) -> None:
        """Drop what a chunk registered in the connection."""
        for name in _REGISTERED:
            with contextlib.suppress(duckdb.Error):
                self.con.unregister(name)

    def raw_rows(self, delivered: pa.Table, bad: np.ndarray) -> str:
        """The accepted rows of the chunk registered as `_delivered` as raw rows with lineage and
        `_file`, in the temporary table `_rows` (which it returns): they stay inside DuckDB for
        the archive, the counts and the insert (no detour through Arrow, no sort: `_file` and
        `_row` tell where each row came from)."""
        con, contract = self.con, self.contract
        accepted = "_delivered"
        if len(bad):
            con.register("_bad", pa.table({"_i": pa.array(bad, pa.int64())}))
            accepted = "(select * from _delivered anti join _bad using (_i))"
        typed = typed_select(con, "_delivered", contract)
        keep = ["_file", *LINEAGE, "_row"]
        passed = [c for c in delivered.column_names if c.startswith("_ctx_") or c not in contract.columns]
        passed = [c for c in passed if c not in contract.typed and c not in keep and c != "_i"]
        extra = "".join(f", {quote(c)}" for c in [*keep, *passed])
        con.execute(f"create or replace temp view _typed as select {typed}{extra} from {accepted}")
        if self.spec.raw_sql is not None:
            step = RawStep(con, "_typed", list(contract.typed), placeholders(contract), self.key, keep)
            select = self.spec.raw_sql.select(step)
        elif self.spec.to_raw is unchanged:
            select = f"select {', '.join(quote(c) for c in contract.typed)}, {', '.join(keep)} from _typed"
        else:
            select = self._raw_in_pandas(keep)
        try:
            con.execute(f"create or replace temp table _rows as {select}")
        finally:
            con.execute("drop view if exists _typed")
        return "_rows"

    def _raw_in_pandas(self, keep: list[str]) -> str:
        """For a source whose `to_raw` is a pandas function: apply it to the accepted rows."""
        typed = self.con.execute("select * from _typed").df()
        kept = typed[keep].reset_index(drop=True)
        frame = typed[list(self.contract.typed)]
        declared = {name: arrow_type(str(kind)) for name, kind, *_ in self.con.execute("describe _typed").fetchall()}
        raw = to_arrow(self.spec.to_raw(frame, self.key).reset_index(drop=True), declared)
        kinds = {"_file": pa.int32(), "_row": pa.int64()}
        for name in keep:
            raw = raw.append_column(name, pa.array(kept[name].to_numpy(), kinds.get(name, pa.string())))
        self.con.register("_raw_frame", raw)
        return "select * from _raw_frame"

    def archive_chunk(self, rows: str, batches: list[str]) -> None:
        """One immutable Parquet file per chunk, `archive/<source>/<first batch>[+<more batches>].parquet`:
        its rows carry `_batch_id` (and `_source_file`, `_period`), so each batch is found in it. One
        file per chunk instead of one per batch: nationally that is a few hundred files, not 120,000."""
        folder = self.settings.archive_dir / self.spec.source
        folder.mkdir(parents=True, exist_ok=True)
        name = batches[0] if len(batches) == 1 else f"{batches[0]}+{len(batches) - 1}"
        target = folder / f"{name}.parquet"
        if not target.exists():
            staged = target.with_name(f".{target.name}.tmp")
            path = str(staged).replace("'", "''")
            self.con.execute(
                f"copy (select * exclude (_file) from {rows}) to '{path}' (format parquet, compression zstd)"
            )
            staged.replace(target)

    def write_chunk(self, deliveries: list[Delivery], delivered: pa.Table | None = None) -> list[dict]:
        """Check, pseudonymise, archive and write the readable files of one chunk together
        (`delivered`: their rows, if the reading thread made them)."""
        delivered = self.delivered(deliveries) if delivered is None else delivered
        self.con.register("_delivered", delivered)
        try:
            broken = failures(self.con, "_delivered", self.contract, delivered)
            bad = np.unique(broken["_i"].to_numpy())
            batches = [d.batch for d in deliveries]
            rejected = (
                quarantine_rows(self.settings, self.spec, self.key, delivered, batches, broken, bad) if len(bad) else {}
            )
            rows = self.raw_rows(delivered, bad)
        finally:
            self.forget()
        del delivered
        try:
            return self.store_chunk(deliveries, rows, rejected)
        finally:
            self.con.execute(f"drop table if exists {rows}")

    def store_chunk(self, deliveries: list[Delivery], rows: str, rejected: dict[int, int]) -> list[dict]:
        """Archive the raw rows of a chunk (the temporary table `rows`), replace their periods in
        the raw table and record every file in the ingestion log, in one transaction."""
        con, table = self.con, self.spec.table
        accepted = np.zeros(len(deliveries), np.int64)
        for index, count in con.execute(f"select _file, count(*) from {rows} group by _file").fetchall():
            accepted[index] = count
        log = []
        for index, delivery in enumerate(deliveries):
            count, quarantined = int(accepted[index]), rejected.get(index, 0)
            log.append(
                {
                    **delivery.log,
                    "rows_read": count + quarantined,
                    "rows_accepted": count,
                    "rows_rejected": quarantined,
                    "status": "partial" if quarantined else "accepted",
                    "message": f"{quarantined} rows quarantined" if quarantined else "",
                }
            )
        superseded = sorted(self.known.periods & {d.batch.period for d in deliveries})
        try:
            self.archive_chunk(rows, [d.batch.batch_id for d in deliveries])
            incoming = f"(select * exclude (_file) from {rows})"
            con.execute("begin")
            try:
                raw_layer.ensure_table(con, table, incoming)
                if superseded:
                    listed = ", ".join("?" for _ in superseded)
                    con.execute(f"delete from raw.{table} where _period in ({listed})", superseded)
                con.execute(f"insert into raw.{table} by name select * from {incoming}")
                raw_layer.record_batches(con, log)
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise
        except Exception as exc:
            raise _WriteFailed(str(exc)) from exc
        self.known.periods |= {d.batch.period for d in deliveries}
        self.known.hashes |= {d.batch.content_hash for d in deliveries}
        return [
            {
                "file": d.batch.path.name,
                "status": "accepted",
                "rows": entry["rows_accepted"],
                "rejected": entry["rows_rejected"],
                "period": d.batch.period,
            }
            for d, entry in zip(deliveries, log, strict=True)
        ]

    def write_safely(self, readable: list[Delivery], delivered: pa.Table | None = None) -> list[dict]:
        """`write_chunk`, with a safety net: a chunk failing on its content is written file by
        file, and the file it fails on is rejected alone."""
        try:
            return self.write_chunk(readable, delivered)
        except _WriteFailed as failed:
            raise failed.__cause__ from None
        except Exception as exc:
            if len(readable) > 1:
                return [r for d in readable for r in self.write_safely([d])]
            (delivery,) = readable
            name = delivery.batch.path.name
            message = f"{name}: cannot be processed ({type(exc).__name__}); check the file against the contract"
            result = self.reject(delivery, message, None)
            raw_layer.record_batches(self.con, [result.pop("_log")])
            return [result]

    def prepared(
        self, paths: list[Path], reader: duckdb.DuckDBPyConnection
    ) -> Iterator[tuple[list[dict], list[Delivery], pa.Table | None]]:
        """Per chunk (one file per period, up to `CHUNK_BYTES`): the results of files settled
        without writing (unchanged, or rejected whole with their `_log` row), the readable
        deliveries, parsed, and their rows as `delivered` makes them (None if that failed: then
        `write_safely` finds the file that fails). Uses only `reader`, a cursor of its own, so it
        can run ahead in a thread: pseudonymising one chunk in Python while DuckDB writes the last."""
        chunk: list[Delivery] = []
        settled: list[dict] = []
        periods: set[str] = set()
        size = 0
        for path in paths:
            opened = self.open(path)
            if isinstance(opened, dict):
                settled.append(opened)
                continue
            if chunk and (opened.batch.period in periods or size >= CHUNK_BYTES):
                yield self.parsed(settled, chunk, reader)
                chunk, settled, size = [], [], 0
                periods.clear()
            chunk.append(opened)
            periods.add(opened.batch.period)
            self.known.hashes.add(opened.batch.content_hash)
            size += opened.size
        if chunk or settled:
            yield self.parsed(settled, chunk, reader)

    def parsed(
        self, settled: list[dict], chunk: list[Delivery], reader: duckdb.DuckDBPyConnection
    ) -> tuple[list[dict], list[Delivery], pa.Table | None]:
        readable, rejected = chunk, []
        if chunk and isinstance(self.spec.read, DelimitedReader):
            readable, rejected = self.read_chunk(chunk)
        delivered = None
        if readable:
            with contextlib.suppress(Exception):
                delivered = self.delivered(readable, reader)
        return settled + rejected, readable, delivered

    def ingest(self, paths: list[Path]) -> list[dict]:
        """The files of a source with a SQL contract, a chunk at a time (see `ingest_files`):
        the next chunk is read and parsed in a thread while this one is checked and written.
        Rows carry their file and line (`_file`, `_row`), so DuckDB may write them in any order."""
        prepare(self.con)
        self.con.execute("set preserve_insertion_order = false")
        if self.spec.personal and not self.key:  # made here, before the reading thread needs it
            raise ValueError("no pseudonymisation key")
        results: list[dict] = []
        with contextlib.closing(self.con.cursor()) as reader:
            reader.execute("set enable_progress_bar = false")
            for settled, readable, delivered in read_ahead(self.prepared(paths, reader)):
                results.extend(self.settle(settled, readable, delivered))
        order = {path.name: i for i, path in enumerate(paths)}
        return sorted(results, key=lambda r: order.get(r["file"], 0))

    def settle(self, settled: list[dict], readable: list[Delivery], delivered: pa.Table | None) -> list[dict]:
        """Record the files of a chunk settled without writing, write the readable ones, and log."""
        raw_layer.record_batches(self.con, [r.pop("_log") for r in settled if "_log" in r])
        if self.log:
            for result in settled:
                if result["status"] == "rejected":
                    self.log(f"{self.spec.source}: {result}")
        if not readable:
            return settled
        started = time.perf_counter()
        done = self.write_safely(readable, delivered)
        if self.log:
            rows = sum(r.get("rows", 0) for r in done)
            elapsed = time.perf_counter() - started
            self.log(f"{self.spec.source}: {len(readable)} files, {rows:,} rows in {elapsed:.2f}s")
            for result in done:
                if result["status"] == "rejected" or result.get("rejected"):
                    self.log(f"{self.spec.source}: {result}")
        return settled + done


def _numbered(table: pa.Table) -> pa.Table:
    """A delivered file's rows with `_row`, their line number in the file."""
    return table.append_column("_row", pa.array(np.arange(2, table.num_rows + 2, dtype=np.int64)))


def ingest_files(
    spec: SourceSpec,
    paths: list[Path],
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Each file one batch: hash → already ingested? → read → contract → quarantine →
    pseudonymise → archive → replace its period in the raw table → record in raw.ingestion_log.

    Returns per file {file, status (accepted | rejected | unchanged), rows, rejected} or a message.
    Files of a source with a SQL contract go through these steps a chunk at a time. Whatever a
    file holds, this never raises for bad content.
    """
    if not isinstance(spec.validate, SqlValidator):
        from dagster_project.ingest import pandera_path

        return [pandera_path.ingest_one(Run.start(spec, con, settings, log), path) for path in paths]
    return Run.start(spec, con, settings, log).ingest(paths)


def ingest_file(spec: SourceSpec, path: Path, con: duckdb.DuckDBPyConnection, settings: Settings) -> dict:
    """One delivered file, one batch (see `ingest_files`)."""
    return ingest_files(spec, [path], con, settings)[0]


def ensure_raw_table(spec: SourceSpec, con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Create the raw table of a source that has not delivered yet, empty and typed as its contract
    says, so models reading it build before the first delivery; a raw table made under an older
    contract gains the columns the contract added since (null in the rows delivered before)."""
    if not isinstance(spec.validate, SqlValidator):
        if not raw_layer.table_exists(con, "raw", spec.table):
            from dagster_project.ingest import pandera_path

            pandera_path.ensure_raw_table(spec, con)
        return
    prepare(con)
    run = Run(spec, con, settings, Known(set(), set(), set()))
    run.key = b"\0" if spec.personal else b""  # no row is pseudonymised; the key only has to exist
    delivered = run.delivered([])
    con.register("_delivered", delivered)
    try:
        rows = run.raw_rows(delivered, np.array([], np.int64))
    finally:
        run.forget()
    try:
        raw_layer.ensure_table(con, spec.table, f"(select * exclude (_file) from {rows})")
    finally:
        con.execute(f"drop table if exists {rows}")


def ingest_source(
    specs: list[SourceSpec],
    settings: Settings,
    log: Callable[[str], None] | None = None,
    warehouse: Warehouse | None = None,
) -> dict[tuple[str, ...], dict[str, int | float]]:
    """Ingest every complete file in the source's landing folder, each with the spec its name
    matches (a file no spec matches is rejected by the first). Every spec's raw table exists
    afterwards, empty if nothing was delivered; the accepted periods are shared with the
    warehouse the models are built in. Returns asset metadata per key."""
    warehouse = warehouse or warehouse_for(settings)
    source = specs[0].source
    globs = sorted({spec.glob for spec in specs})
    files = sorted({p for pattern in globs for p in landed_files(settings, source, pattern)})
    by_spec: dict[tuple[str, ...], list[Path]] = {spec.asset_key: [] for spec in specs}
    for path in files:
        spec = next((s for s in specs if s.file_pattern.match(path.name)), specs[0])
        by_spec[spec.asset_key].append(path)
    stats: dict[tuple[str, ...], dict[str, int | float]] = {}
    with warehouse.connect() as con:
        logged = raw_layer.log_position(con)
        for spec in specs:
            started, cpu = time.perf_counter(), time.process_time()
            results = ingest_files(spec, by_spec[spec.asset_key], con, settings, log)
            ensure_raw_table(spec, con, settings)
            periods = {r["period"] for r in results if r["status"] == "accepted"}
            shared = warehouse.share_raw(con, spec.table, periods)
            if log and shared:
                log(f"{spec.source}: {shared:,} rows of {len(periods)} periods written to the shared warehouse")
            removed = retention.prune_landing(settings, spec.source, results)
            if log and removed:
                log(f"{spec.source}: {len(removed)} ingested deliveries removed from landing (retention)")
            stats[spec.asset_key] = {
                "files": len(results),
                "rejected_files": sum(r["status"] == "rejected" for r in results),
                "rows_ingested": sum(r.get("rows", 0) for r in results),
                "quarantined_rows": sum(r.get("rejected", 0) for r in results),
                "raw_rows": raw_layer.count_rows(con, f"raw.{spec.table}"),
                "seconds": round(time.perf_counter() - started, 3),
                "cpu_seconds": round(time.process_time() - cpu, 3),
            }
        warehouse.share_ingestion_log(con, logged)
        runlog.sync_sources(settings, con, [source], since=logged)
    return stats
