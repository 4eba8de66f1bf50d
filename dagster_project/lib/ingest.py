"""The ingestion contract shared by every source (DESIGN §5).

A delivered file is one batch. It is read whole or quarantined whole with one clear message;
row-level contract failures go to `var/quarantine/<source>/<batch>/` with `reasons.csv`
(row, column, rule, message) and the good rows continue. Accepted rows are archived as Parquet.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from string import Template

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dagster_project.lib.pseudonymise import valid_bsn
from dagster_project.settings import PROJECT_ROOT, Settings

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


def quarantine(settings: Settings, batch: Batch, rows: pd.DataFrame | None, reasons: pd.DataFrame) -> Path:
    """Keep what was rejected, with why, under `var/quarantine/<source>/<batch>/`."""
    folder = settings.quarantine_dir / batch.source / batch.batch_id
    folder.mkdir(parents=True, exist_ok=True)
    reasons.to_csv(folder / "reasons.csv", index=False)
    if rows is not None and len(rows):
        rows.to_csv(folder / "rejected_rows.csv", sep=";", index=True)
    return folder


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


# --- Reading large delimited files through Arrow -------------------------------------------------


def _decoded_header(
    path: Path, raw: bytes, expected_columns: list[str], delimiter: str, normalise: Callable[[str], str]
) -> list[str]:
    """The checks every delivered CSV passes before its rows are parsed; returns the header."""
    if not raw.strip():
        raise UnreadableFile(f"{path.name}: the file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"{path.name}: not UTF-8 (byte {exc.start} cannot be decoded); deliver the file as UTF-8"
        ) from exc
    lines = text.splitlines()
    header = [normalise(c.strip()) for c in next(csv.reader(io.StringIO(lines[0]), delimiter=delimiter))]
    if len(header) == 1 and len(expected_columns) > 1:
        raise UnreadableFile(f"{path.name}: expected '{delimiter}' as delimiter, found a single column")
    missing = [c for c in expected_columns if c not in header]
    if missing:
        raise UnreadableFile(f"{path.name}: missing columns {', '.join(missing)}")
    if len(set(header)) < len(header):
        raise UnreadableFile(f"{path.name}: duplicated column names in the header")
    if not text.endswith(("\n", "\r")):
        raise UnreadableFile(f"{path.name}: the last line is not terminated; the file looks truncated")
    if len([line for line in lines[1:] if line.strip()]) == 0:
        raise UnreadableFile(f"{path.name}: the file has a header but no rows")
    return header


def read_delimited_arrow(
    path: Path, expected_columns: list[str], delimiter: str = ";", normalise: Callable[[str], str] = str.strip
) -> pa.Table:
    """Read a delivered CSV as text columns with Arrow (multi-threaded), or raise UnreadableFile.

    The result holds the expected columns as strings (missing values as '') plus `_row`, the line
    number in the file. Parse errors never echo the offending line: it may hold personal data.
    """
    raw = path.read_bytes()
    header = _decoded_header(path, raw, expected_columns, delimiter, normalise)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(raw),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                include_columns=expected_columns,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        found = re.search(r"Expected \d+ columns, got \d+", str(exc))
        detail = found.group(0) if found else "a line cannot be parsed"
        raise UnreadableFile(f"{path.name}: malformed or truncated ({detail})") from None
    return table.append_column("_row", pa.array(range(2, table.num_rows + 2), pa.int64()))


# --- Contracts as SQL rules, checked in DuckDB ---------------------------------------------------

SQL_MACROS = [
    "create or replace macro nl_date(s) as try_strptime(nullif(trim(s), ''), '%d-%m-%Y')::date",
    "create or replace macro nl_decimal(s) as "
    "try_cast(replace(replace(nullif(trim(s), ''), '.', ''), ',', '.') as decimal(18, 2))",
    "create or replace macro is_nl_decimal(s) as "
    r"regexp_full_match(trim(s), '-?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?')",
    "create or replace macro num(s) as try_cast(nullif(nullif(trim(s), ''), '.') as double)",
]


@dataclass(frozen=True)
class Rule:
    """One row-level rule: `fails` is a DuckDB SQL condition over the delivered text columns that
    is true where the row breaks the rule. `${name}` placeholders take the groups of the file name."""

    column: str
    rule: str
    fails: str


@dataclass(frozen=True)
class SqlContract:
    """The contract of a delivered table: required columns, row rules, a key and the typed output.

    `typed` maps each raw column to a SQL expression over the delivered text columns; it is only
    evaluated on rows that passed every rule. `sensitive` columns are never echoed in a message.
    `derived` columns are computed in Python (numpy) before the rules run, e.g. `_valid_bsn`.
    """

    columns: list[str]
    rules: list[Rule]
    typed: dict[str, str]
    unique: list[str] = field(default_factory=list)
    sensitive: frozenset[str] = frozenset()
    derived: dict[str, Callable[[pa.Table], np.ndarray]] = field(default_factory=dict)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_in(values: Iterable[str]) -> str:
    """A SQL list literal, e.g. for a referential check against a code list."""
    return "(" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in sorted(set(values))) + ")"


_VALIDATOR_LOCK = threading.Lock()
CODE_LISTS: dict[str, frozenset[str]] = {}
_LOADED_CODE_LISTS: dict[str, frozenset[str]] = {}


@lru_cache(maxsize=1)
def _validator() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB for contract checks, with the parsing macros (`nl_date`, `nl_decimal`)."""
    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")
    for macro in SQL_MACROS:
        con.execute(macro)
    return con


def apply_sql_contract(
    table: pa.Table, contract: SqlContract, file_name: str, context: dict[str, str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Check every rule on every row in one DuckDB scan.

    Returns the accepted rows typed (index `row`), the reasons (row, column, rule, message) and
    the rejected rows as delivered (index `row`).
    """
    context = context or {}
    rules = list(contract.rules)
    flags = [
        f"case when coalesce(({Template(rule.fails).safe_substitute(context)}), false) then {i} end"
        for i, rule in enumerate(rules)
    ]
    if contract.unique:
        key = ", ".join(_quote(c) for c in contract.unique)
        flags.append(f"case when count(*) over (partition by {key}) > 1 then {len(rules)} end")
        rules.append(Rule("+".join(contract.unique), "unique", "duplicated key"))
    typed = ", ".join(f"{expression} as {_quote(name)}" for name, expression in contract.typed.items())
    for name, compute in contract.derived.items():
        table = table.append_column(name, pa.array(compute(table)))
    with _VALIDATOR_LOCK:
        con = _validator()
        for name, values in CODE_LISTS.items():
            if _LOADED_CODE_LISTS.get(name) != values:
                codes = pa.table({"code": pa.array(sorted(values), pa.string())})
                con.register("codes", codes)
                con.execute(f"create or replace table codes_{name} as select * from codes")
                con.unregister("codes")
                _LOADED_CODE_LISTS[name] = values
        con.register("delivered", table)
        try:
            failures = con.execute(
                f"select row, unnest(ids) as rule_id from (select _row as row, "
                f"list_filter([{', '.join(flags)}], x -> x is not null) as ids from delivered) "
                "where len(ids) > 0 order by row, rule_id"
            ).fetchnumpy()
            bad_rows = np.unique(failures["row"])
            keep = pc.invert(pc.is_in(table["_row"], pa.array(bad_rows, pa.int64())))
            con.register("passed", table.filter(keep))
            accepted = con.execute(f"select _row as row, {typed} from passed").df()
            declared = {name: _arrow_type(str(kind)) for name, kind, *_ in con.description}
        finally:
            con.unregister("delivered")
            con.unregister("passed")
        table = table.drop_columns(list(contract.derived))
    accepted.attrs["arrow_types"] = declared
    reasons = pd.DataFrame(
        {
            "row": failures["row"].astype(np.int64),
            "column": pd.Series([rules[i].column for i in failures["rule_id"]], dtype=object),
            "rule": pd.Series([rules[i].rule for i in failures["rule_id"]], dtype=object),
        }
    )
    rejected = table.filter(pc.is_in(table["_row"], pa.array(bad_rows, pa.int64()))).to_pandas()
    rejected = rejected.rename(columns={"_row": "row"}).set_index("row")
    reasons["message"] = _messages(reasons, rejected, contract, file_name)
    return accepted.set_index("row"), reasons, rejected


def _messages(reasons: pd.DataFrame, rows: pd.DataFrame, contract: SqlContract, file_name: str) -> pd.Series:
    """`<file>, row <n>, column <c>: value '<v>' breaks rule <r>`; personal data is never echoed."""
    shown = pd.Series("<withheld>", index=reasons.index, dtype=object)
    for column, group in reasons.groupby("column").groups.items():
        columns = column.split("+")
        if any(c in contract.sensitive for c in columns) or not all(c in rows for c in columns):
            continue
        at = reasons.loc[group, "row"]
        values = rows[columns[0]].reindex(at).astype(str)
        for extra in columns[1:]:
            values = values + "|" + rows[extra].reindex(at).astype(str)
        shown.loc[group] = ("'" + values.str.replace("'", "\\'") + "'").to_numpy()
    if reasons.empty:
        return pd.Series([], index=reasons.index, dtype=object)
    return (
        file_name
        + ", row "
        + reasons["row"].astype(str)
        + ", column "
        + reasons["column"]
        + ": value "
        + shown
        + " breaks rule "
        + reasons["rule"]
    )


# --- The per-file flow shared by every source ----------------------------------------------------


@dataclass(frozen=True)
class SourceSpec:
    """How one delivered table becomes one raw table.

    - `read(path)` returns the delivered rows or raises UnreadableFile;
    - `validate(delivered, file_name, context)` returns (accepted, reasons, rejected rows);
    - `to_raw(accepted, key)` pseudonymises and shapes the accepted rows (lineage is added here);
    - `mask(rejected, key)` removes what identifies a person from rejected rows before quarantine;
    - `period(match)` is the period key a corrected re-delivery supersedes;
    - `enrich(accepted, con, file name groups)`, if given, adds columns from the warehouse (e.g.
      the buurt of a postcode) before `to_raw` drops what identifies a person.
    Files whose whole content may hold personal data (`personal=True`) are not copied into the
    quarantine when unreadable; the delivery stays in the landing folder until it is replaced.
    """

    source: str
    table: str
    asset_key: tuple[str, ...]
    file_pattern: re.Pattern[str]
    file_hint: str
    read: Callable[[Path], object]
    validate: Callable[[object, str, dict[str, str]], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]
    period: Callable[[re.Match[str]], str]
    to_raw: Callable[[pd.DataFrame, bytes], pd.DataFrame] = lambda frame, key: frame
    mask: Callable[[pd.DataFrame, bytes], pd.DataFrame] = lambda frame, key: frame
    personal: bool = False
    glob: str = "*.csv"
    enrich: Callable[[pd.DataFrame, duckdb.DuckDBPyConnection, dict[str, str]], pd.DataFrame] | None = None


def sql_validator(contract: SqlContract) -> Callable[[pa.Table, str, dict[str, str]], tuple]:
    def validate(table: pa.Table, file_name: str, context: dict[str, str]) -> tuple:
        return apply_sql_contract(table, contract, file_name, context)

    return validate


def ingest_file(spec: SourceSpec, path: Path, con: duckdb.DuckDBPyConnection, settings: Settings) -> dict:
    """One delivered file, one batch: hash → already ingested? → read → contract → quarantine →
    pseudonymise → archive → replace its period in the raw table → record in raw.ingestion_log.

    Returns {file, status (accepted | rejected | unchanged), rows, rejected} or a message.
    Whatever the file holds, this never raises for bad content.
    """
    from dagster_project.lib import warehouse

    match = spec.file_pattern.match(path.name)
    period = spec.period(match) if match else "unknown"
    batch = Batch(spec.source, path, content_hash(path), period)
    if warehouse.already_ingested(con, spec.source, batch.content_hash):
        return {"file": path.name, "status": "unchanged"}
    log = {
        "batch_id": batch.batch_id,
        "source": spec.source,
        "file_name": path.name,
        "content_hash": batch.content_hash,
        "period": period,
    }
    key = settings.get_pseudonym_key() if spec.personal else b""
    try:
        if not match:
            raise UnreadableFile(f"{path.name}: file name must be {spec.file_hint}")
        try:
            delivered = spec.read(path)
            accepted, reasons, rejected_rows = spec.validate(delivered, path.name, match.groupdict())
        except UnreadableFile:
            raise
        except Exception as exc:  # a safety net: no delivery may crash the pipeline
            raise UnreadableFile(
                f"{path.name}: cannot be processed ({type(exc).__name__}); check the file against the contract"
            ) from None
    except UnreadableFile as exc:
        message = str(exc)
        if spec.personal:
            message += " (the delivery stays in the landing folder; it is not copied because it holds personal data)"
        reasons = pd.DataFrame([{"row": 0, "column": "", "rule": "readable_file", "message": message}])
        folder = quarantine(settings, batch, None, reasons)
        if not spec.personal:
            (folder / path.name).write_bytes(path.read_bytes())
        warehouse.record_batch(
            con, **log, rows_read=0, rows_accepted=0, rows_rejected=0, status="rejected", message=message
        )
        return {"file": path.name, "status": "rejected", "message": message}
    if len(reasons):
        quarantine(settings, batch, spec.mask(rejected_rows, key), reasons)
    if spec.enrich:
        accepted = spec.enrich(accepted, con, match.groupdict())
    raw = spec.to_raw(accepted, key)
    raw = with_lineage(raw, batch, accepted.index.to_numpy())
    table = to_arrow(raw, accepted.attrs.get("arrow_types", {}))
    archive(settings, batch, table)
    warehouse.replace_period(con, spec.table, period, table)
    rejected = int(reasons["row"].nunique()) if len(reasons) else 0
    warehouse.record_batch(
        con,
        **log,
        rows_read=len(accepted) + rejected,
        rows_accepted=len(accepted),
        rows_rejected=rejected,
        status="accepted" if not rejected else "partial",
        message=f"{rejected} rows quarantined" if rejected else "",
    )
    return {"file": path.name, "status": "accepted", "rows": len(accepted), "rejected": rejected}


def _arrow_type(duckdb_type: str) -> pa.DataType:
    """The Arrow type a DuckDB result column arrives as in pandas (decimals as double)."""
    kind = duckdb_type.upper()
    if kind.startswith(("DECIMAL", "DOUBLE", "FLOAT")):
        return pa.float64()
    return {
        "BOOLEAN": pa.bool_(),
        "DATE": pa.timestamp("us"),
        "INTEGER": pa.int32(),
        "BIGINT": pa.int64(),
    }.get(kind, pa.string())


def to_arrow(frame: pd.DataFrame, types: dict[str, pa.DataType]) -> pa.Table:
    """Arrow is cheaper to archive and to load than pandas. A column that is empty in this batch
    keeps the type the contract gives it (else text), so the first batch fixes the right types."""
    frame = frame.copy(deep=False)
    frame.attrs = {}
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for index, column in enumerate(table.schema):
        if pa.types.is_null(column.type):
            table = table.set_column(index, column.name, pa.nulls(len(table), types.get(column.name, pa.string())))
    return table


def with_lineage(raw: pd.DataFrame, batch: Batch, rows: object) -> pd.DataFrame:
    raw = raw.reset_index(drop=True)
    raw["_period"] = batch.period
    raw["_batch_id"] = batch.batch_id
    raw["_source_file"] = batch.path.name
    raw["_row"] = rows
    return raw


def ingest_source(
    specs: list[SourceSpec], settings: Settings, log: Callable[[str], None] | None = None
) -> dict[tuple[str, ...], dict[str, int]]:
    """Ingest every complete file in the source's landing folder, each with the spec its name
    matches (a file no spec matches is rejected by the first). Returns asset metadata per key."""
    from dagster_project.lib import warehouse

    source = specs[0].source
    globs = sorted({spec.glob for spec in specs})
    files = sorted({p for pattern in globs for p in landed_files(settings, source, pattern)})
    stats = {
        spec.asset_key: {"files": 0, "rejected_files": 0, "rows_ingested": 0, "quarantined_rows": 0, "raw_rows": 0}
        for spec in specs
    }
    with warehouse.connect(settings) as con:
        for path in files:
            spec = next((s for s in specs if s.file_pattern.match(path.name)), specs[0])
            started = time.perf_counter()
            result = ingest_file(spec, path, con, settings)
            if log:
                log(f"{source}: {result} in {time.perf_counter() - started:.2f}s")
            counts = stats[spec.asset_key]
            counts["files"] += 1
            counts["rejected_files"] += result["status"] == "rejected"
            counts["rows_ingested"] += result.get("rows", 0)
            counts["quarantined_rows"] += result.get("rejected", 0)
        for spec in specs:
            stats[spec.asset_key]["raw_rows"] = warehouse.count_rows(con, f"raw.{spec.table}")
    return stats


def materialize_results(stats: dict[tuple[str, ...], dict[str, int]]) -> list[dg.MaterializeResult]:
    return [
        dg.MaterializeResult(
            asset_key=dg.AssetKey(list(key)),
            metadata={name: dg.MetadataValue.int(int(value)) for name, value in counts.items()},
        )
        for key, counts in stats.items()
    ]


def source_asset(
    spec: SourceSpec, group: str, kinds: set[str], description: str, deps: list[dg.AssetKey] | None = None
) -> dg.AssetsDefinition:
    """The Dagster asset of a single-table source: ingest every landed file into `raw.<table>`."""

    @dg.asset(key=list(spec.asset_key), group_name=group, kinds=kinds, description=description, deps=deps)
    def _asset(context) -> dg.MaterializeResult:  # an AssetExecutionContext
        from dagster_project.settings import get_settings

        stats = ingest_source([spec], get_settings(), context.log.info)
        return materialize_results(stats)[0]

    return _asset


# --- Building blocks for contracts ---------------------------------------------------------------

SEEDS_DIR = PROJECT_ROOT / "dbt" / "seeds"


@lru_cache
def reference_codes(seed: str, column: str = "code") -> frozenset[str]:
    """The values of one column of a code list in `dbt/seeds/` (for referential checks)."""
    frame = pd.read_csv(SEEDS_DIR / f"{seed}.csv", dtype=str, keep_default_na=False)
    return frozenset(frame[column])


def text(column: str) -> str:
    return f"trim({_quote(column)})"


def required(column: str) -> Rule:
    return Rule(column, "not_empty", f"{text(column)} = ''")


def matches(column: str, pattern: str, rule: str = "format", optional: bool = False) -> Rule:
    condition = f"not regexp_full_match({text(column)}, '{pattern}')"
    return Rule(column, rule, f"{text(column)} <> '' and {condition}" if optional else condition)


def one_of(column: str, values: Iterable[str], rule: str = "accepted_values") -> Rule:
    return Rule(column, rule, f"{text(column)} not in {sql_in(values)}")


def code_list(name: str, values: Iterable[str]) -> str:
    """A SQL subquery over a code list, loaded once into the contract checker as `codes_<name>`."""
    CODE_LISTS[name] = frozenset(values)
    return f"(select code from codes_{name})"


def known(column: str, values: Iterable[str], name: str) -> Rule:
    """Referential check: the value must be in a code list."""
    return Rule(column, f"known_{name}", f"{text(column)} not in {code_list(name, values)}")


def dutch_date(column: str, optional: bool = False) -> Rule:
    fails = f"nl_date({_quote(column)}) is null"
    return Rule(column, "date_dd_mm_yyyy", f"{text(column)} <> '' and {fails}" if optional else fails)


def end_after_start(start: str, end: str) -> Rule:
    return Rule(end, "end_not_before_start", f"nl_date({_quote(end)}) < nl_date({_quote(start)})")


def dutch_amount(column: str, optional: bool = False) -> list[Rule]:
    """A number with a decimal comma (`1234,50`, `1.234,50`) that is not negative."""
    fails = f"not is_nl_decimal({_quote(column)})"
    return [
        Rule(column, "dutch_decimal", f"{text(column)} <> '' and {fails}" if optional else fails),
        Rule(column, "non_negative", f"nl_decimal({_quote(column)}) < 0"),
    ]


def number_in_range(column: str, low: float | None = 0, high: float | None = None, secret: str = ".") -> list[Rule]:
    """A number with a decimal point, optionally kept secret (CBS `.`), within [low, high]."""
    value = f"num({_quote(column)})"
    bounds = [f"{value} < {low}"] if low is not None else []
    bounds += [f"{value} > {high}"] if high is not None else []
    rules = [Rule(column, "number", f"{text(column)} not in ('', '{secret}') and {value} is null")]
    return rules + ([Rule(column, "in_range", " or ".join(bounds))] if bounds else [])


def same_gemeente(column: str, wijk_column: str) -> Rule:
    return Rule(
        wijk_column,
        "wijk_in_gemeente",
        f"substr({text(wijk_column)}, 3, 4) <> substr({text(column)}, 3, 4)",
    )


GM_CODE = r"GM\d{4}"
WK_CODE = r"WK\d{6}"
BU_CODE = r"BU\d{8}"
AGB_CODE = r"\d{8}"


def gemeente_rules(column: str = "gemeentecode", from_file: bool = True) -> list[Rule]:
    rules = [
        matches(column, GM_CODE),
        known(column, reference_codes("ref_gemeenten"), "ref_gemeenten"),
    ]
    if from_file:
        rules.append(Rule(column, "matches_file_name", f"{text(column)} <> '${{gm}}'"))
    return rules


def person_rules() -> list[Rule]:
    """BSN, birth date, sex and address of a client in a municipal export (needs PERSON_DERIVED)."""
    return [
        Rule("bsn", "bsn_11_proef", "not _valid_bsn"),
        dutch_date("geboortedatum"),
        Rule("geboortedatum", "not_in_future", "nl_date(geboortedatum) > current_date"),
        one_of("geslacht", ["M", "V", "O", "X"]),
        Rule(
            "postcode", "postcode_format", r"not regexp_full_match(upper(replace(postcode, ' ', '')), '\d{4}[A-Z]{2}')"
        ),
        matches("huisnummer", r"\d{1,5}\s*[A-Za-z0-9 -]{0,8}", "huisnummer_format"),
    ]


PC6_TABLE = "cbs_pc6_gwb"
PC6_ASSET_KEY = dg.AssetKey(["raw", "cbs", "pc6_gwb"])


def locate_postcodes(accepted: pd.DataFrame, con: duckdb.DuckDBPyConnection, groups: dict[str, str]) -> pd.DataFrame:
    """Add `buurt_code` and `wijk_code` of each row's postcode-6 from `raw.cbs_pc6_gwb`, using the
    latest division up to the year of the file (or the earliest there is). Unknown → null."""
    out = accepted.copy()
    year = int((groups.get("month") or groups.get("year") or "0")[:4])
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = ?", [PC6_TABLE]
    ).fetchone()[0]
    lookup = pd.DataFrame(columns=["postcode6", "buurt_code", "wijk_code"])
    if exists:
        lookup = con.execute(
            f"""
            with chosen as (
                select coalesce(max(year) filter (where year <= ?), min(year)) as year from raw.{PC6_TABLE}
            )
            select postcode6, buurt_code, wijk_code from raw.{PC6_TABLE} semi join chosen using (year)
            """,
            [year],
        ).df()
    postcode6 = out["postcode"].astype("string").str.upper().str.replace(r"\s+", "", regex=True)
    located = lookup.drop_duplicates("postcode6").set_index("postcode6").reindex(postcode6.to_numpy())
    out["buurt_code"] = located["buurt_code"].to_numpy()
    out["wijk_code"] = located["wijk_code"].to_numpy()
    return out


PERSON_COLUMNS = frozenset({"bsn", "geboortedatum", "postcode", "huisnummer"})
PERSON_DERIVED = {"_valid_bsn": lambda table: valid_bsn(table["bsn"].to_pandas())}
