"""The ingestion contract shared by every source (DESIGN §5).

A delivered file is one batch. It is read whole or quarantined whole with one clear message;
row-level contract failures go to `var/quarantine/<source>/<batch>/` with `reasons.csv`
(row, column, rule, message) and the good rows continue. Accepted rows are archived as Parquet.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from dagster_project.settings import Settings

TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart")


class UnreadableFile(Exception):
    """The file as a whole cannot be read: encoding, delimiter, columns, truncation or emptiness."""


@dataclass
class Batch:
    source: str
    path: Path
    content_hash: str
    period: str

    @property
    def batch_id(self) -> str:
        return f"{self.path.stem}-{self.content_hash[:12]}"


@dataclass
class BatchResult:
    batch: Batch
    rows_read: int
    accepted: pd.DataFrame
    reasons: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REASON_COLUMNS))

    @property
    def rows_rejected(self) -> int:
        return int(self.reasons["row"].nunique()) if len(self.reasons) else 0


REASON_COLUMNS = ["row", "column", "rule", "message"]


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_complete_candidate(path: Path) -> bool:
    """Files still being written carry a temporary name; hidden files and markers are not data."""
    name = path.name
    return path.is_file() and not name.startswith((".", "~")) and not name.endswith(TEMP_SUFFIXES)


def landed_files(settings: Settings, source: str, pattern: str = "*.csv") -> list[Path]:
    folder = settings.landing_dir / source
    return sorted(p for p in folder.glob(pattern) if is_complete_candidate(p)) if folder.exists() else []


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
    frame: pd.DataFrame, schema: pa.DataFrameSchema, file_name: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into accepted and rejected; every rejection gets a row, column, rule and message."""
    try:
        return schema.validate(frame, lazy=True), pd.DataFrame(columns=REASON_COLUMNS)
    except pa.errors.SchemaErrors as exc:
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


def quarantine(settings: Settings, batch: Batch, rows: pd.DataFrame | None, reasons: pd.DataFrame) -> Path:
    """Keep what was rejected, with why, under `var/quarantine/<source>/<batch>/`."""
    folder = settings.quarantine_dir / batch.source / batch.batch_id
    folder.mkdir(parents=True, exist_ok=True)
    reasons.to_csv(folder / "reasons.csv", index=False)
    if rows is not None and len(rows):
        rows.to_csv(folder / "rejected_rows.csv", sep=";", index=True)
    return folder


def archive(settings: Settings, batch: Batch, accepted: pd.DataFrame) -> Path:
    """Immutable Parquet copy of the accepted rows of a batch."""
    folder = settings.archive_dir / batch.source
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{batch.batch_id}.parquet"
    if not target.exists():
        accepted.to_parquet(target, index=False)
    return target
