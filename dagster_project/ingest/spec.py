"""What a source declares: how one delivered table becomes one raw table (`SourceSpec`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from dagster_project.ingest.checks import sql_validator
from dagster_project.ingest.contract import SqlContract
from dagster_project.ingest.reading import delimited_reader


@dataclass
class Batch:
    """One delivered file: the unit that is accepted, quarantined and superseded."""

    source: str
    path: Path
    content_hash: str
    period: str

    @property
    def batch_id(self) -> str:
        return f"{self.path.stem}-{self.content_hash[:12]}"


REASON_COLUMNS = ["row", "column", "rule", "message"]


def unchanged(frame: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """The default `to_raw` and `mask`: the rows as they are."""
    return frame


@dataclass(frozen=True)
class RawStep:
    """What `RawSql.select` gets: the relation with the accepted rows, typed, with the columns
    `RawSql.columns` added and the columns in `keep` (`_file`, lineage); its typed columns;
    the file-name groups (as columns `_ctx_<group>`) and the key."""

    con: duckdb.DuckDBPyConnection
    relation: str
    columns: list[str]
    groups: list[str]
    key: bytes
    keep: list[str]


@dataclass(frozen=True)
class RawSql:
    """What `to_raw` does, for many files at once inside DuckDB.

    `columns(delivered, key, con)` computes columns from the delivered rows (an Arrow table; e.g.
    pseudonyms, on the distinct values; `con` the warehouse); `select(step)` returns the SELECT over `step.relation`
    that gives the raw columns followed by `step.keep`.
    """

    columns: Callable[[pa.Table, bytes, duckdb.DuckDBPyConnection], dict[str, pa.Array]]
    select: Callable[[RawStep], str]


@dataclass(frozen=True)
class SourceSpec:
    """How one delivered table becomes one raw table.

    - `read(path)` returns the delivered rows or raises UnreadableFile;
    - `validate(delivered, file_name, context)` returns (accepted, reasons, rejected rows);
    - `contract`, if given, supplies both for a `;`-separated file: `read` takes its columns,
      `validate` checks it (`sql_validator`); a source may still give either of its own;
    - `to_raw(accepted, key)` pseudonymises and shapes the accepted rows (lineage is added here);
    - `mask(rejected, key)` removes what identifies a person from rejected rows before quarantine;
    - `period(match)` is the period key a corrected re-delivery supersedes;
    - `raw_sql`, if given, replaces `to_raw`: it shapes the rows inside DuckDB for many files at
      once and may add columns from the warehouse (e.g. the buurt of a postcode; see `RawSql`).
    Files whose whole content may hold personal data (`personal=True`) are not copied into the
    quarantine when unreadable; the delivery stays in the landing folder until it is replaced.
    A `validate` made by `sql_validator` lets many files be checked and written together.
    `description` is the Dagster asset's; its group is the asset key's middle part.
    """

    source: str
    table: str
    asset_key: tuple[str, ...]
    file_pattern: re.Pattern[str]
    file_hint: str
    period: Callable[[re.Match[str]], str]
    contract: SqlContract | None = None
    read: Callable[[Path], object] | None = None
    validate: Callable[[object, str, dict[str, str]], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]] | None = None
    to_raw: Callable[[pd.DataFrame, bytes], pd.DataFrame] = unchanged
    mask: Callable[[pd.DataFrame, bytes], pd.DataFrame] = unchanged
    personal: bool = False
    glob: str = "*.csv"
    raw_sql: RawSql | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.contract is not None:
            if self.read is None:
                object.__setattr__(self, "read", delimited_reader(self.contract.columns))
            if self.validate is None:
                object.__setattr__(self, "validate", sql_validator(self.contract))
        if self.read is None or self.validate is None:
            raise TypeError(f"{self.source}: a SourceSpec needs a contract, or read and validate of its own")


#: The columns every raw row carries to tell where it came from.
LINEAGE = ["_period", "_batch_id", "_source_file"]
