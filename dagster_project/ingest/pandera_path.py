"""The pandas path: a source read into pandas and checked by a pandera schema, one file at a time.

Only `sources/cbs_kwb.py` still takes it; every other source has a SQL contract (`contract.py`)
and is ingested many files at a time (`run.py`). When the last source has moved, this module goes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.ingest.checks import to_arrow
from dagster_project.ingest.reading import UnreadableFile
from dagster_project.ingest.rejected import quarantine
from dagster_project.ingest.run import Run
from dagster_project.ingest.spec import REASON_COLUMNS, Batch, SourceSpec
from dagster_project.lib import warehouse
from dagster_project.settings import Settings


def read_delimited(
    path: Path,
    expected_columns: list[str],
    delimiter: str = ";",
    normalise: Callable[[str], str] = str.strip,
) -> pd.DataFrame:
    """Read a delivered CSV as text, or raise UnreadableFile naming what is wrong with it.

    `normalise` maps delivered header names onto the contract's names before they are compared.
    """
    raw = path.read_bytes()
    if not raw.strip():
        raise UnreadableFile(f"{path.name}: the file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"{path.name}: not UTF-8 (byte {exc.start} cannot be decoded); deliver the file as UTF-8"
        ) from exc
    header = [normalise(c) for c in next(csv.reader(io.StringIO(text.splitlines()[0]), delimiter=delimiter))]
    if len(header) == 1 and len(expected_columns) > 1:
        raise UnreadableFile(f"{path.name}: expected '{delimiter}' as delimiter, found a single column")
    missing = [c for c in expected_columns if c not in header]
    if missing:
        raise UnreadableFile(f"{path.name}: missing columns {', '.join(missing)}")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, on_bad_lines="error")
    except (pd.errors.ParserError, ValueError) as exc:
        raise UnreadableFile(f"{path.name}: malformed or truncated ({exc})") from exc
    if not text.endswith(("\n", "\r")):
        raise UnreadableFile(f"{path.name}: the last line is not terminated; the file looks truncated")
    if frame.empty:
        raise UnreadableFile(f"{path.name}: the file has a header but no rows")
    frame.columns = header
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="row")
    return frame


def apply_contract(
    frame: pd.DataFrame, schema: pandera.DataFrameSchema, file_name: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into accepted and rejected; every rejection gets a row, column, rule and message."""
    try:
        return schema.validate(frame, lazy=True), pd.DataFrame(columns=REASON_COLUMNS)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    row_level = cases[cases["index"].notna()]
    if len(row_level) < len(cases):
        structural = cases[cases["index"].isna()]
        detail = "; ".join(f"{c.column}: {c.check}" for c in structural.itertuples())
        raise UnreadableFile(f"{file_name}: does not match the contract ({detail})")
    reasons = pd.DataFrame(
        {
            "row": row_level["index"].astype(int),
            "column": row_level["column"].astype(str),
            "rule": row_level["check"].astype(str),
        }
    )
    reasons["message"] = [
        f"{file_name}, row {r.row}, column {r.column}: value {value!r} breaks rule {r.rule}"
        for r, value in zip(reasons.itertuples(), row_level["failure_case"], strict=True)
    ]
    rejected = frame.index.isin(reasons["row"])
    accepted = schema.validate(frame.loc[~rejected])
    return accepted, reasons.sort_values(["row", "column"]).reset_index(drop=True)


def archive(settings: Settings, batch: Batch, accepted: pd.DataFrame | pa.Table) -> Path:
    """Immutable Parquet copy of the accepted rows of a batch."""
    folder = settings.archive_dir / batch.source
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{batch.batch_id}.parquet"
    if not target.exists():
        if isinstance(accepted, pa.Table):
            pq.write_table(accepted, target)
        else:
            accepted.to_parquet(target, index=False)
    return target


@dataclass(frozen=True)
class PanderaValidator:
    """`validate` of a source read into pandas and checked by a pandera schema; `for_file(groups)`,
    if given, gives the schema for a file from its name's groups (e.g. checks of its year)."""

    schema: pandera.DataFrameSchema
    for_file: Callable[[dict[str, str]], pandera.DataFrameSchema] | None = None

    def __call__(self, frame: pd.DataFrame, file_name: str, context: dict[str, str]) -> tuple:
        schema = self.for_file(context) if self.for_file else self.schema
        accepted, reasons = apply_contract(frame, schema, file_name)
        return accepted, reasons, frame.loc[frame.index.isin(reasons["row"])]

    def empty(self) -> pd.DataFrame:
        """No rows, the schema's columns and types: what a raw table holds before any delivery."""
        return pd.DataFrame(
            {
                name: pd.Series(dtype=column.dtype.type if column.dtype else object)
                for name, column in self.schema.columns.items()
            }
        )


def pandera_validator(
    schema: pandera.DataFrameSchema, for_file: Callable[[dict[str, str]], pandera.DataFrameSchema] | None = None
) -> PanderaValidator:
    return PanderaValidator(schema, for_file)


def ingest_one(run: Run, path: Path) -> dict:
    """One file through a source's own (pandas) `validate`: the flow of `ingest_files`, per file."""
    spec, con, settings = run.spec, run.con, run.settings
    opened = run.open(path)
    if isinstance(opened, dict):
        if "_log" in opened:
            warehouse.record_batches(con, [opened.pop("_log")])
        return opened
    batch = opened.batch
    try:
        try:
            delivered = opened.table if opened.table is not None else spec.read(path)
            accepted, reasons, rejected_rows = spec.validate(delivered, path.name, opened.groups)
        except UnreadableFile:
            raise
        except Exception as exc:  # a safety net: no delivery may crash the pipeline
            raise UnreadableFile(
                f"{path.name}: cannot be processed ({type(exc).__name__}); check the file against the contract"
            ) from None
    except UnreadableFile as exc:
        result = run.reject(opened, str(exc), None)
        warehouse.record_batches(con, [result.pop("_log")])
        return result
    if len(reasons):
        quarantine(settings, batch, spec.mask(rejected_rows, run.key), reasons)
    raw = spec.to_raw(accepted, run.key)
    raw = with_lineage(raw, batch, accepted.index.to_numpy())
    table = to_arrow(raw, accepted.attrs.get("arrow_types", {}))
    archive(settings, batch, table)
    warehouse.replace_period(con, spec.table, batch.period, table)
    rejected = int(reasons["row"].nunique()) if len(reasons) else 0
    warehouse.record_batch(
        con,
        **opened.log,
        rows_read=len(accepted) + rejected,
        rows_accepted=len(accepted),
        rows_rejected=rejected,
        status="accepted" if not rejected else "partial",
        message=f"{rejected} rows quarantined" if rejected else "",
    )
    return {
        "file": path.name,
        "status": "accepted",
        "rows": len(accepted),
        "rejected": rejected,
        "period": batch.period,
    }


def ensure_raw_table(spec: SourceSpec, con: duckdb.DuckDBPyConnection) -> None:
    """The empty raw table of a pandas source, typed by its schema."""
    empty = spec.validate.empty()
    raw = with_lineage(spec.to_raw(empty, b""), Batch(spec.source, Path("none"), "", ""), np.array([], np.int64))
    con.register("_empty", to_arrow(raw, {}))
    try:
        warehouse.ensure_table(con, spec.table, "_empty")
    finally:
        con.unregister("_empty")


def with_lineage(raw: pd.DataFrame, batch: Batch, rows: object) -> pd.DataFrame:
    raw = raw.reset_index(drop=True)
    raw["_period"] = batch.period
    raw["_batch_id"] = batch.batch_id
    raw["_source_file"] = batch.path.name
    raw["_row"] = rows
    return raw
