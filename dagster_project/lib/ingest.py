"""The ingestion contract shared by every source (DESIGN §5).

A delivered file is one batch. It is read whole or quarantined whole with one clear message;
row-level contract failures go to `var/quarantine/<source>/<batch>/` with `reasons.csv`
(row, column, rule, message) and the good rows continue. Accepted rows are archived as Parquet.

Sources with a SQL contract are ingested many files at a time (a chunk): the files are read
with Arrow into one table, every rule of every file is checked in one DuckDB scan, the accepted
rows are typed, pseudonymised and written to the raw layer, the archive (one Parquet file per
chunk, its rows carrying their batch) and the ingestion log with a handful of statements per
chunk instead of per file. Each file stays its own batch. Rules that read columns with few
distinct values (codes, dates, amounts) are checked once per distinct value, not once per row.
A file already ingested is recognised by its content hash, or without reading it by its name,
size and modification time when it had settled (not changed for a while) before it was read.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dagster_project.lib import postgres, retention, warehouse
from dagster_project.lib.pseudonymise import (
    PSEUDONYM_LENGTH,
    birth_year,
    normalise_bsn,
    normalise_huisnummer,
    normalise_postcode,
    postcode4,
    valid_bsn,
)
from dagster_project.settings import PROJECT_ROOT, Settings

log = logging.getLogger("mmr.ingest")
#: StatLine's CSV downloads number their rows in an `ID` column: expected, not worth a warning.
STATLINE_ROW_NUMBER = ("ID",)
TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart")
CHUNK_BYTES = 64 << 20  # delivered bytes checked and written together; bounds memory per chunk
SETTLED_NS = 2_000_000_000  # a file unchanged this long before it was read is known by its size and time


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


# --- Reading delimited files through Arrow -------------------------------------------------------


def split_header(
    path: Path, raw: bytes, expected_columns: list[str], delimiter: str, normalise: Callable[[str], str]
) -> tuple[list[str], bytes]:
    """The checks every delivered CSV passes before its rows are parsed: returns the header (as
    the contract names it) and the bytes after it, or raises UnreadableFile with one message."""
    if not raw or raw.isspace():
        raise UnreadableFile(f"{path.name}: the file is empty")
    if not raw.isascii():
        try:
            raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnreadableFile(
                f"{path.name}: not UTF-8 (byte {exc.start} cannot be decoded); deliver the file as UTF-8"
            ) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    end = min((i for i in (raw.find(b"\n"), raw.find(b"\r")) if i >= 0), default=len(raw))
    first = raw[:end].decode("utf-8")
    header = [normalise(c.strip()) for c in next(csv.reader(io.StringIO(first), delimiter=delimiter))]
    if len(header) == 1 and len(expected_columns) > 1:
        raise UnreadableFile(f"{path.name}: expected '{delimiter}' as delimiter, found a single column")
    missing = [c for c in expected_columns if c not in header]
    if missing:
        raise UnreadableFile(f"{path.name}: missing columns {', '.join(missing)}")
    if len(set(header)) < len(header):
        raise UnreadableFile(f"{path.name}: duplicated column names in the header")
    extra = [c for c in header if c and c not in expected_columns and c not in STATLINE_ROW_NUMBER]
    if extra:
        log.warning("%s: columns %s are not in the contract; accepted and ignored", path.name, ", ".join(extra))
    if not raw.endswith((b"\n", b"\r")):
        raise UnreadableFile(f"{path.name}: the last line is not terminated; the file looks truncated")
    if raw[end : end + 1] == b"\r" and raw[end + 1 : end + 2] == b"\n":
        end += 1
    body = raw[end + 1 :]
    if not body or body.isspace():
        raise UnreadableFile(f"{path.name}: the file has a header but no rows")
    return header, body


def _parse_delimited(
    body: bytes, header: list[str], expected_columns: list[str], delimiter: str, name: str
) -> pa.Table:
    """The rows of a header-less CSV body as text columns; parse errors never echo the line (it
    may hold personal data)."""
    try:
        return pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=header),
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
        raise UnreadableFile(f"{name}: malformed or truncated ({detail})") from None


def read_delimited_arrow(
    path: Path, expected_columns: list[str], delimiter: str = ";", normalise: Callable[[str], str] = str.strip
) -> pa.Table:
    """Read a delivered CSV as text columns with Arrow (multi-threaded), or raise UnreadableFile.

    The result holds the expected columns as strings (missing values as '') plus `_row`, the line
    number in the file. Parse errors never echo the offending line: it may hold personal data.
    """
    header, body = split_header(path, path.read_bytes(), expected_columns, delimiter, normalise)
    table = _parse_delimited(body, header, expected_columns, delimiter, path.name)
    return table.append_column("_row", pa.array(range(2, table.num_rows + 2), pa.int64()))


@dataclass(frozen=True)
class DelimitedReader:
    """`read` of a delimited source: the same as `read_delimited_arrow`, but recognisable, so many
    files with the same header are parsed by Arrow in one pass."""

    columns: tuple[str, ...]
    delimiter: str = ";"
    normalise: Callable[[str], str] = str.strip

    def __call__(self, path: Path) -> pa.Table:
        return read_delimited_arrow(path, list(self.columns), self.delimiter, self.normalise)


def delimited_reader(
    columns: Iterable[str], delimiter: str = ";", normalise: Callable[[str], str] = str.strip
) -> DelimitedReader:
    return DelimitedReader(tuple(columns), delimiter, normalise)


def _records(body: bytes) -> int | None:
    """Rows in a CSV body when every line is one row and no line is empty (then lines can be
    counted instead of parsed); None when that is not certain."""
    if b"\r" in body and (body.count(b"\r") != body.count(b"\r\n") or b"\r\n\r\n" in body or body[:1] == b"\r"):
        return None
    if b"\n\n" in body or body[:1] == b"\n":
        return None
    return body.count(b"\n")


# --- Contracts as SQL rules, checked in DuckDB ---------------------------------------------------

SQL_MACROS = [
    "create or replace temp macro nl_date(s) as try_strptime(nullif(trim(s), ''), '%d-%m-%Y')::date",
    "create or replace temp macro nl_decimal(s) as "
    "try_cast(replace(replace(nullif(trim(s), ''), '.', ''), ',', '.') as decimal(18, 2))",
    "create or replace temp macro is_nl_decimal(s) as "
    r"regexp_full_match(trim(s), '-?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?')",
    "create or replace temp macro num(s) as try_cast(nullif(nullif(trim(s), ''), '.') as double)",
]


@dataclass(frozen=True)
class Rule:
    """One row-level rule: `fails` is a DuckDB SQL condition over the delivered text columns that
    is true where the row breaks the rule. `${name}` placeholders take the groups of the file name;
    write them inside a string literal (`'${year}'`, `'${year}JJ00'`)."""

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


CODE_LISTS: dict[str, frozenset[str]] = {}
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def placeholders(contract: SqlContract) -> list[str]:
    """The file-name groups a contract's rules and typed columns refer to."""
    texts = [rule.fails for rule in contract.rules] + list(contract.typed.values())
    return sorted({name for text in texts for name in _PLACEHOLDER.findall(text)})


def _bind(sql: str) -> str:
    """Turn `${name}` placeholders into references to the column `_ctx_<name>`, which holds the
    value for each row's file, so the rules of many files are checked in one query."""

    def literal(match: re.Match[str]) -> str:
        text = match.group(0)
        if "${" not in text:
            return text
        parts = _PLACEHOLDER.split(text[1:-1])
        pieces = [_quote(f"_ctx_{p}") if i % 2 else f"'{p}'" for i, p in enumerate(parts) if i % 2 or p]
        return "(" + " || ".join(pieces) + ")"

    out, position = [], 0
    for match in _LITERAL.finditer(sql):
        out.append(_PLACEHOLDER.sub(lambda m: _quote(f"_ctx_{m.group(1)}"), sql[position : match.start()]))
        out.append(literal(match))
        position = match.end()
    out.append(_PLACEHOLDER.sub(lambda m: _quote(f"_ctx_{m.group(1)}"), sql[position:]))
    return "".join(out)


def _prepare(con: duckdb.DuckDBPyConnection) -> None:
    """The parsing macros and the code lists, as temporary objects of this connection."""
    for macro in SQL_MACROS:
        con.execute(macro)
    for name, values in CODE_LISTS.items():
        con.register("_codes", pa.table({"code": pa.array(sorted(values), pa.string())}))
        con.execute(f"create or replace temp table codes_{name} as select * from _codes")
        con.unregister("_codes")


def _contract_rules(contract: SqlContract) -> list[Rule]:
    rules = list(contract.rules)
    if contract.unique:
        rules.append(Rule("+".join(contract.unique), "unique", "duplicated key"))
    return rules


#: A group of rules is checked on the distinct values of the columns it reads when there are at
#: most this share of distinct combinations per row (codes, dates, amounts: a monthly export
#: repeats them); otherwise row by row.
DISTINCT_SHARE = 0.5
_IDENTIFIER = re.compile(r'"((?:[^"]|"")*)"|\b([A-Za-z_][A-Za-z0-9_]*)\b')


def _references(condition: str, columns: dict[str, str]) -> frozenset[str]:
    """The columns (`columns`: lower-case name → name) a bound SQL condition may read: every
    identifier outside string literals that names one. A superset is harmless."""
    found = set()
    for quoted, bare in _IDENTIFIER.findall(_LITERAL.sub("''", condition)):
        name = (quoted.replace('""', '"') if quoted else bare).lower()
        if name in columns:
            found.add(columns[name])
    return frozenset(found)


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """Each row's index into the distinct values of a column (null is a value too), and how many."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    encoded = pc.dictionary_encode(column, null_encoding="encode").combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(encoded.dictionary)


def _combinations(table: pa.Table, columns: list[str], cache: dict) -> tuple[np.ndarray, int]:
    """Each row's index into the distinct combinations of `columns`, and how many there are."""
    key, size = None, 1
    for name in sorted(columns):
        if name not in cache:
            cache[name] = _codes(table[name])
        codes, count = cache[name]
        key = codes if key is None else key * max(count, 1) + codes
        key, uniques = pd.factorize(key)
        size = len(uniques)
    return key, size


def _flags(conditions: list[tuple[int, str]]) -> str:
    return ", ".join(f"case when coalesce({c}, false) then {i} end" for i, c in conditions)


def _failures(
    con: duckdb.DuckDBPyConnection, relation: str, contract: SqlContract, table: pa.Table | None = None
) -> pa.Table:
    """(`_i`, `rule_id`) for every broken rule of every row of `relation`, in one pass over the
    rows for the rules and one aggregate for the key.

    With `table` (the Arrow table registered as `relation`), rules that read columns with few
    distinct values are checked once per distinct combination of those values instead of once
    per row, and the verdicts mapped back onto the rows: the same answer, a fraction of the work.
    """
    conditions = [(i, f"({_bind(rule.fails)})") for i, rule in enumerate(contract.rules)]
    schema = pa.schema([("_i", pa.int64()), ("rule_id", pa.int32())])
    parts = []
    per_row = conditions
    if table is not None and table.num_rows:
        names = {name.lower(): name for name in table.column_names}
        groups: dict[frozenset[str], list[tuple[int, str]]] = {}
        for i, condition in conditions:
            groups.setdefault(_references(condition, names), []).append((i, condition))
        per_row, cache = [], {}
        for columns, members in groups.items():
            if not columns:
                per_row += members
                continue
            inverse, count = _combinations(table, list(columns), cache)
            if count > DISTINCT_SHARE * table.num_rows:
                per_row += members
                continue
            parts.append(_distinct_failures(con, table, list(columns), members, inverse, count))
    if per_row:
        where = " or ".join(c for _, c in per_row)
        parts.append(
            con.execute(
                f"select _i, unnest(list_filter([{_flags(per_row)}], x -> x is not null)) as rule_id "
                f"from (select * from {relation} where {where})"
            )
            .to_arrow_table()
            .cast(schema)
        )
    if contract.unique:
        key = ", ".join(_quote(c) for c in contract.unique)
        match = " and ".join(f"d.{_quote(c)} is not distinct from k.{_quote(c)}" for c in ["_file", *contract.unique])
        duplicated = con.execute(
            f"select d._i, {len(contract.rules)} as rule_id from {relation} d join "
            f"(select _file, {key} from {relation} group by all having count(*) > 1) k on {match}"
        ).to_arrow_table()
        parts.append(duplicated.cast(schema))
    broken = pa.concat_tables(parts) if parts else schema.empty_table()
    return broken.sort_by([("_i", "ascending"), ("rule_id", "ascending")])


def _distinct_failures(
    con: duckdb.DuckDBPyConnection,
    table: pa.Table,
    columns: list[str],
    conditions: list[tuple[int, str]],
    inverse: np.ndarray,
    count: int,
) -> pa.Table:
    """The broken rules of `conditions`, checked on each distinct combination of `columns` once
    (`inverse`: each row's combination) and mapped back onto the rows as (`_i`, `rule_id`)."""
    first = np.empty(count, np.int64)
    first[inverse[::-1]] = np.arange(len(inverse) - 1, -1, -1)
    values = table.select(columns).take(pa.array(first)).append_column("_k", pa.array(np.arange(count)))
    con.register("_combinations", values)
    try:
        where = " or ".join(c for _, c in conditions)
        found = con.execute(
            f"select _k, unnest(list_filter([{_flags(conditions)}], x -> x is not null)) as rule_id "
            f"from (select * from _combinations where {where})"
        ).fetchnumpy()
    finally:
        con.unregister("_combinations")
    rows, rule_ids = [], []
    positions = table["_i"].to_numpy()
    for rule_id in np.unique(found["rule_id"]):
        broken = np.zeros(count, bool)
        broken[found["_k"][found["rule_id"] == rule_id]] = True
        at = positions[broken[inverse]]
        rows.append(at)
        rule_ids.append(np.full(len(at), rule_id, np.int32))
    return pa.table(
        {
            "_i": pa.array(np.concatenate(rows) if rows else np.array([], np.int64), pa.int64()),
            "rule_id": pa.array(np.concatenate(rule_ids) if rule_ids else np.array([], np.int32), pa.int32()),
        }
    )


def _raw_type(kind: str) -> str | None:
    """The raw layer keeps decimals as double and dates as timestamps (what it always held)."""
    kind = kind.upper()
    if kind.startswith("DECIMAL"):
        return "double"
    return "timestamp" if kind == "DATE" else None


def _typed_select(con: duckdb.DuckDBPyConnection, relation: str, contract: SqlContract) -> str:
    """The select list of the typed columns over `relation`, cast to the raw layer's types."""
    exprs = {name: _bind(expression) for name, expression in contract.typed.items()}
    listed = ", ".join(f"{e} as {_quote(n)}" for n, e in exprs.items())
    kinds = {name: kind for name, kind, *_ in con.execute(f"describe select {listed} from {relation}").fetchall()}
    parts = []
    for name, expression in exprs.items():
        cast = _raw_type(kinds[name])
        parts.append(f"{f'cast({expression} as {cast})' if cast else expression} as {_quote(name)}")
    return ", ".join(parts)


def _messages(reasons: pd.DataFrame, rows: pd.DataFrame, contract: SqlContract, file_name: object) -> pd.Series:
    """`<file>, row <n>, column <c>: value '<v>' breaks rule <r>`; personal data is never echoed.

    `rows` holds the rejected rows as delivered, indexed like `reasons[key]` (`row`, or `_i` when
    rows of many files are explained at once); `file_name` is one name or a Series of names.
    """
    key = "_i" if "_i" in reasons else "row"
    shown = pd.Series("<withheld>", index=reasons.index, dtype=object)
    for column, group in reasons.groupby("column").groups.items():
        columns = column.split("+")
        if any(c in contract.sensitive for c in columns) or not all(c in rows for c in columns):
            continue
        at = reasons.loc[group, key]
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


def _with_derived(table: pa.Table, contract: SqlContract) -> pa.Table:
    """Add the Python-computed columns the rules or typed columns refer to."""
    texts = " ".join([r.fails for r in contract.rules] + list(contract.typed.values()))
    for name, compute in contract.derived.items():
        if name in texts:
            table = table.append_column(name, pa.array(compute(table)))
    return table


_VALIDATOR_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _validator() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB for checking a single table outside the warehouse."""
    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")
    return con


def apply_sql_contract(
    table: pa.Table, contract: SqlContract, file_name: str, context: dict[str, str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Check every rule on every row of one delivered table (with `_row`) in one DuckDB scan.

    Returns the accepted rows typed (index `row`), the reasons (row, column, rule, message) and
    the rejected rows as delivered (index `row`). Ingestion checks many files at once with the
    same rules (`ingest_files`); this is the single-table form.
    """
    chunk = _chunk_table([table], [context or {}], contract)
    with _VALIDATOR_LOCK:
        con = _validator()
        _prepare(con)
        con.register("_one", chunk)
        try:
            broken = _failures(con, "_one", contract, chunk)
            bad = np.unique(broken["_i"].to_numpy())
            con.register("_one_bad", pa.table({"_i": pa.array(bad, pa.int64())}))
            typed = _typed_select(con, "_one", contract)
            accepted = con.execute(f"select _row as row, {typed} from _one anti join _one_bad using (_i)").df()
            declared = {name: _arrow_type(str(kind)) for name, kind, *_ in con.description}
        finally:
            con.unregister("_one")
            con.unregister("_one_bad")
    accepted.attrs["arrow_types"] = declared
    rules = _contract_rules(contract)
    rows = table["_row"].to_numpy()
    reasons = pd.DataFrame(
        {
            "row": rows[broken["_i"].to_numpy()].astype(np.int64),
            "column": pd.Series([rules[i].column for i in broken["rule_id"].to_pylist()], dtype=object),
            "rule": pd.Series([rules[i].rule for i in broken["rule_id"].to_pylist()], dtype=object),
        }
    )
    rejected = table.filter(pc.is_in(table["_row"], pa.array(rows[bad], pa.int64()))).to_pandas()
    rejected = rejected.rename(columns={"_row": "row"}).set_index("row")
    reasons["message"] = _messages(reasons, rejected, contract, file_name)
    return accepted.set_index("row"), reasons, rejected


def _per_file(files: np.ndarray, values: list[str | None]) -> pa.DictionaryArray:
    """A column with one value per file, as dictionary indices into the files' values."""
    return pa.DictionaryArray.from_arrays(pa.array(files, pa.int32()), pa.array(values, pa.string()))


def _chunk_table(
    tables: list[pa.Table],
    groups: list[dict[str, str]],
    contract: SqlContract,
    lineage: dict[str, list[str]] | None = None,
) -> pa.Table:
    """The delivered rows of many files as one table: the contract's text columns, `_row`, the
    derived columns, `_file` (the file's position), `_i` (the row's position) and per file its
    `_ctx_<group>` placeholder values and `lineage` columns."""
    schema = pa.schema([(c, pa.string()) for c in contract.columns] + [("_row", pa.int64())])
    parts = [t.select(schema.names).cast(schema) for t in tables]
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    table = _with_derived(table, contract)
    files = np.repeat(np.arange(len(parts), dtype=np.int32), [p.num_rows for p in parts])
    table = table.append_column("_file", pa.array(files, pa.int32()))
    table = table.append_column("_i", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    missing = sorted({n for g in groups for n in placeholders(contract) if n not in g})
    if missing:
        raise KeyError(f"the file name does not give {', '.join(missing)}, which the contract refers to")
    for name in placeholders(contract):
        table = table.append_column(f"_ctx_{name}", _per_file(files, [g[name] for g in groups]))
    for name, values in (lineage or {}).items():
        table = table.append_column(name, _per_file(files, values))
    return table


# --- Validators a SourceSpec names -------------------------------------------------------------


@dataclass(frozen=True)
class SqlValidator:
    """`validate` of a source with a SQL contract. `context(groups)` may add placeholder values
    that follow from the file name groups (e.g. a level's singular name)."""

    contract: SqlContract
    context: Callable[[dict[str, str]], dict[str, str]] | None = None

    def values(self, groups: dict[str, str]) -> dict[str, str]:
        return {**groups, **(self.context(groups) if self.context else {})}

    def __call__(self, table: pa.Table, file_name: str, context: dict[str, str]) -> tuple:
        return apply_sql_contract(table, self.contract, file_name, self.values(context))


def sql_validator(
    contract: SqlContract, context: Callable[[dict[str, str]], dict[str, str]] | None = None
) -> SqlValidator:
    return SqlValidator(contract, context)


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


# --- The flow shared by every source -----------------------------------------------------------


def unchanged(frame: pd.DataFrame, key: bytes) -> pd.DataFrame:
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
    """What `enrich` and `to_raw` do, for many files at once inside DuckDB.

    `columns(delivered, key)` computes columns from the delivered rows (an Arrow table; e.g.
    pseudonyms, on the distinct values); `select(step)` returns the SELECT over `step.relation`
    that gives the raw columns followed by `step.keep`.
    """

    columns: Callable[[pa.Table, bytes], dict[str, pa.Array]]
    select: Callable[[RawStep], str]


@dataclass(frozen=True)
class SourceSpec:
    """How one delivered table becomes one raw table.

    - `read(path)` returns the delivered rows or raises UnreadableFile;
    - `validate(delivered, file_name, context)` returns (accepted, reasons, rejected rows);
    - `to_raw(accepted, key)` pseudonymises and shapes the accepted rows (lineage is added here);
    - `mask(rejected, key)` removes what identifies a person from rejected rows before quarantine;
    - `period(match)` is the period key a corrected re-delivery supersedes;
    - `enrich(accepted, con, file name groups)`, if given, adds columns from the warehouse (e.g.
      the buurt of a postcode) before `to_raw` drops what identifies a person;
    - `raw_sql`, if given, does what `enrich` and `to_raw` do, inside DuckDB for many files at
      once (see `RawSql`).
    Files whose whole content may hold personal data (`personal=True`) are not copied into the
    quarantine when unreadable; the delivery stays in the landing folder until it is replaced.
    A `validate` made by `sql_validator` lets many files be checked and written together.
    """

    source: str
    table: str
    asset_key: tuple[str, ...]
    file_pattern: re.Pattern[str]
    file_hint: str
    read: Callable[[Path], object]
    validate: Callable[[object, str, dict[str, str]], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]
    period: Callable[[re.Match[str]], str]
    to_raw: Callable[[pd.DataFrame, bytes], pd.DataFrame] = unchanged
    mask: Callable[[pd.DataFrame, bytes], pd.DataFrame] = unchanged
    personal: bool = False
    glob: str = "*.csv"
    enrich: Callable[[pd.DataFrame, duckdb.DuckDBPyConnection, dict[str, str]], pd.DataFrame] | None = None
    raw_sql: RawSql | None = None


@dataclass
class _Known:
    """What the warehouse already holds of one source: to skip unchanged files and deletes."""

    hashes: set[str]
    stats: set[tuple[str, int, int]]
    periods: set[str]

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> _Known:
        hashes, stats = warehouse.ingested_files(con, spec.source)
        return cls(hashes, stats, warehouse.periods_of(con, spec.table))


@dataclass
class _Delivery:
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


def _reject_file(spec: SourceSpec, delivery: _Delivery, message: str, settings: Settings, raw: bytes | None) -> dict:
    """Quarantine a whole file with one message; returns its result and log row."""
    if spec.personal:
        message += " (the delivery stays in the landing folder; it is not copied because it holds personal data)"
    reasons = pd.DataFrame([{"row": 0, "column": "", "rule": "readable_file", "message": message}])
    folder = quarantine(settings, delivery.batch, None, reasons)
    if not spec.personal:
        (folder / delivery.batch.path.name).write_bytes(raw if raw is not None else delivery.batch.path.read_bytes())
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


def _open(spec: SourceSpec, path: Path, known: _Known, settings: Settings) -> _Delivery | dict:
    """Hash a file and run its whole-file checks: a delivery to ingest, or its result (unchanged,
    or rejected whole). Never raises for bad content."""
    stat = path.stat()
    if (path.name, stat.st_size, stat.st_mtime_ns) in known.stats:
        return {"file": path.name, "status": "unchanged"}
    read_at = time.time_ns()
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest in known.hashes:
        return {"file": path.name, "status": "unchanged"}
    match = spec.file_pattern.match(path.name)
    settled = stat.st_mtime_ns < read_at - SETTLED_NS
    delivery = _Delivery(
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
        return _reject_file(spec, delivery, str(exc), settings, raw)
    except Exception as exc:  # a safety net: no delivery may crash the pipeline
        message = f"{path.name}: cannot be processed ({type(exc).__name__}); check the file against the contract"
        return _reject_file(spec, delivery, message, settings, raw)
    return delivery


def _read_chunk(spec: SourceSpec, deliveries: list[_Delivery], settings: Settings) -> tuple[list, list[dict]]:
    """Parse the delimited files of a chunk: files with the same header in one Arrow pass (rows
    counted by lines), the others one by one. Returns the readable deliveries and the rejections."""
    reader = spec.read
    together: dict[tuple[str, ...], list[_Delivery]] = {}
    alone: list[_Delivery] = []
    counts: dict[int, int] = {}
    for delivery in deliveries:
        counted = _records(delivery.body)
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
                table = _parse_delimited(
                    b"".join(d.body for d in members), list(key), list(reader.columns), reader.delimiter, "chunk"
                )
            except UnreadableFile:
                table = None
            if table is not None and table.num_rows != sum(counts[id(d)] for d in members):
                table = None
        if table is not None:
            offsets = np.cumsum([0, *(counts[id(d)] for d in members)])
            for delivery, start, stop in zip(members, offsets[:-1], offsets[1:], strict=True):
                part = table.slice(int(start), int(stop - start))
                delivery.table = part.append_column("_row", pa.array(np.arange(2, part.num_rows + 2, dtype=np.int64)))
            continue
        for delivery in members:
            try:
                part = _parse_delimited(
                    delivery.body, delivery.header, list(reader.columns), reader.delimiter, delivery.batch.path.name
                )
                delivery.table = part.append_column("_row", pa.array(np.arange(2, part.num_rows + 2, dtype=np.int64)))
            except UnreadableFile as exc:
                rejected.append(_reject_file(spec, delivery, str(exc), settings, None))
    for delivery in deliveries:
        delivery.body = None
    return [d for d in deliveries if d.table is not None], rejected


LINEAGE = ["_period", "_batch_id", "_source_file"]


def _delivered(spec: SourceSpec, deliveries: list[_Delivery], key: bytes) -> pa.Table:
    """The rows of a chunk's files as one Arrow table (see `_chunk_table`), with the columns the
    source's `raw_sql` computes from them."""
    validator: SqlValidator = spec.validate
    lineage = {
        "_period": [d.batch.period for d in deliveries],
        "_batch_id": [d.batch.batch_id for d in deliveries],
        "_source_file": [d.batch.path.name for d in deliveries],
    }
    table = _chunk_table(
        [d.table for d in deliveries], [validator.values(d.groups) for d in deliveries], validator.contract, lineage
    )
    if spec.raw_sql is not None:
        for name, values in spec.raw_sql.columns(table, key).items():
            table = table.append_column(name, values)
    return table


_REGISTERED = ("_delivered", "_bad", "_raw_frame", "_bsn_pseudonyms", "_address_pseudonyms", "_birth_years")


def _forget(con: duckdb.DuckDBPyConnection) -> None:
    """Drop what a chunk registered in the connection."""
    for name in _REGISTERED:
        with contextlib.suppress(duckdb.Error):
            con.unregister(name)


class _WriteFailed(Exception):
    """Writing a chunk failed: a fault of the machine (disk, lock), not of a delivered file."""


def _raw_rows(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, delivered: pa.Table, key: bytes, bad: np.ndarray
) -> str:
    """The accepted rows of the chunk registered as `_delivered` as raw rows with lineage and
    `_file`, in the temporary table `_rows` (which it returns): they stay inside DuckDB for the
    archive, the counts and the insert (no detour through Arrow, no sort: `_file` and `_row` tell
    where each row came from)."""
    contract = spec.validate.contract
    accepted = "_delivered"
    if len(bad):
        con.register("_bad", pa.table({"_i": pa.array(bad, pa.int64())}))
        accepted = "(select * from _delivered anti join _bad using (_i))"
    typed = _typed_select(con, "_delivered", contract)
    keep = ["_file", *LINEAGE, "_row"]
    passed = [c for c in delivered.column_names if c.startswith("_ctx_") or c not in contract.columns]
    passed = [c for c in passed if c not in contract.typed and c not in keep and c != "_i"]
    extra = "".join(f", {_quote(c)}" for c in [*keep, *passed])
    con.execute(f"create or replace temp view _typed as select {typed}{extra} from {accepted}")
    groups = placeholders(contract)
    if spec.raw_sql is not None:
        select = spec.raw_sql.select(RawStep(con, "_typed", list(contract.typed), groups, key, keep))
    elif spec.to_raw is unchanged and spec.enrich is None:
        select = f"select {', '.join(_quote(c) for c in contract.typed)}, {', '.join(keep)} from _typed"
    else:
        select = _raw_in_pandas(con, spec, key, keep)
    try:
        con.execute(f"create or replace temp table _rows as {select}")
    finally:
        con.execute("drop view if exists _typed")
    return "_rows"


def _raw_in_pandas(con: duckdb.DuckDBPyConnection, spec: SourceSpec, key: bytes, keep: list[str]) -> str:
    """For a source whose `to_raw`/`enrich` are pandas functions: apply them to the accepted rows."""
    typed = con.execute("select * from _typed").df()
    kept = typed[keep].reset_index(drop=True)
    frame = typed[list(spec.validate.contract.typed)]
    if spec.enrich is not None:
        parts = []
        for _, rows in frame.groupby(kept["_file"].to_numpy(), sort=False):
            first = typed.loc[rows.index[0]]
            groups = {c.removeprefix("_ctx_"): first[c] for c in typed.columns if c.startswith("_ctx_")}
            parts.append(spec.enrich(rows, con, groups))
        frame = pd.concat(parts).loc[frame.index] if parts else spec.enrich(frame, con, {})
    declared = {name: _arrow_type(str(kind)) for name, kind, *_ in con.execute("describe _typed").fetchall()}
    raw = to_arrow(spec.to_raw(frame, key).reset_index(drop=True), declared)
    kinds = {"_file": pa.int32(), "_row": pa.int64()}
    for name in keep:
        raw = raw.append_column(name, pa.array(kept[name].to_numpy(), kinds.get(name, pa.string())))
    con.register("_raw_frame", raw)
    return "select * from _raw_frame"


def _archive_chunk(
    settings: Settings, spec: SourceSpec, con: duckdb.DuckDBPyConnection, rows: str, batches: list[str]
) -> None:
    """One immutable Parquet file per chunk, `archive/<source>/<first batch>[+<more batches>].parquet`:
    its rows carry `_batch_id` (and `_source_file`, `_period`), so each batch is found in it. One
    file per chunk instead of one per batch: nationally that is a few hundred files, not 120,000."""
    folder = settings.archive_dir / spec.source
    folder.mkdir(parents=True, exist_ok=True)
    name = batches[0] if len(batches) == 1 else f"{batches[0]}+{len(batches) - 1}"
    target = folder / f"{name}.parquet"
    if not target.exists():
        staged = target.with_name(f".{target.name}.tmp")
        path = str(staged).replace("'", "''")
        con.execute(f"copy (select * exclude (_file) from {rows}) to '{path}' (format parquet, compression zstd)")
        staged.replace(target)


def _quarantine_rows(
    spec: SourceSpec,
    contract: SqlContract,
    delivered: pa.Table,
    deliveries: list[_Delivery],
    broken: pa.Table,
    settings: Settings,
    key: bytes,
) -> dict[int, int]:
    """Write `reasons.csv` and the masked `rejected_rows.csv` of every file of the chunk with
    broken rows; returns the number of rejected rows per file."""
    rules = _contract_rules(contract)
    bad = np.unique(broken["_i"].to_numpy())
    rows = delivered.take(pa.array(bad, pa.int64())).select([*contract.columns, "_row", "_file", "_i"]).to_pandas()
    rows = rows.set_index("_i")
    ids = broken["_i"].to_numpy()
    rule_ids = broken["rule_id"].to_numpy()
    reasons = pd.DataFrame(
        {
            "_i": ids,
            "_file": rows["_file"].reindex(ids).to_numpy(),
            "row": rows["_row"].reindex(ids).to_numpy(),
            "column": pd.Series([rules[i].column for i in rule_ids], dtype=object),
            "rule": pd.Series([rules[i].rule for i in rule_ids], dtype=object),
        }
    )
    names = np.array([d.batch.path.name for d in deliveries], dtype=object)
    reasons["message"] = _messages(reasons, rows, contract, pd.Series(names[reasons["_file"]], index=reasons.index))
    delivered = rows.drop(columns=["_file"]).rename(columns={"_row": "row"}).set_index("row", append=True)
    masked = spec.mask(delivered.reset_index("_i", drop=True), key)
    masked["_file"] = rows["_file"].to_numpy()
    counts = {}
    masked_by_file = dict(tuple(masked.groupby("_file")))
    for index, file_reasons in reasons.groupby("_file"):
        file_rows = masked_by_file[index].drop(columns=["_file"])
        quarantine(settings, deliveries[index].batch, file_rows, file_reasons[REASON_COLUMNS].reset_index(drop=True))
        counts[int(index)] = int(file_reasons["row"].nunique())
    return counts


def _write_chunk(
    spec: SourceSpec,
    deliveries: list[_Delivery],
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    known: _Known,
) -> list[dict]:
    """Check, pseudonymise, archive and write the readable files of one chunk together."""
    contract = spec.validate.contract
    key = settings.get_pseudonym_key() if spec.personal else b""
    delivered = _delivered(spec, deliveries, key)
    con.register("_delivered", delivered)
    try:
        broken = _failures(con, "_delivered", contract, delivered)
        bad = np.unique(broken["_i"].to_numpy())
        rejected = _quarantine_rows(spec, contract, delivered, deliveries, broken, settings, key) if len(bad) else {}
        rows = _raw_rows(con, spec, delivered, key, bad)
    finally:
        _forget(con)
    del delivered
    try:
        return _store_chunk(spec, deliveries, con, settings, known, rows, rejected)
    finally:
        con.execute(f"drop table if exists {rows}")


def _store_chunk(
    spec: SourceSpec,
    deliveries: list[_Delivery],
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    known: _Known,
    rows: str,
    rejected: dict[int, int],
) -> list[dict]:
    """Archive the raw rows of a chunk (the temporary table `rows`), replace their periods in the
    raw table and record every file in the ingestion log, in one transaction."""
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
    superseded = sorted(known.periods & {d.batch.period for d in deliveries})
    try:
        _archive_chunk(settings, spec, con, rows, [d.batch.batch_id for d in deliveries])
        incoming = f"(select * exclude (_file) from {rows})"
        con.execute("begin")
        try:
            warehouse.ensure_table(con, spec.table, incoming)
            if superseded:
                listed = ", ".join("?" for _ in superseded)
                con.execute(f"delete from raw.{spec.table} where _period in ({listed})", superseded)
            con.execute(f"insert into raw.{spec.table} by name select * from {incoming}")
            warehouse.record_batches(con, log)
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    except Exception as exc:
        raise _WriteFailed(str(exc)) from exc
    known.periods |= {d.batch.period for d in deliveries}
    known.hashes |= {d.batch.content_hash for d in deliveries}
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


def _ingest_chunk(
    spec: SourceSpec, deliveries: list[_Delivery], con: duckdb.DuckDBPyConnection, settings: Settings, known: _Known
) -> list[dict]:
    readable, rejected = deliveries, []
    if isinstance(spec.read, DelimitedReader):
        readable, rejected = _read_chunk(spec, deliveries, settings)
    warehouse.record_batches(con, [r.pop("_log") for r in rejected])
    if not readable:
        return rejected
    try:
        return rejected + _write_chunk(spec, readable, con, settings, known)
    except _WriteFailed as failed:
        raise failed.__cause__ from None
    except Exception as exc:  # a safety net: find the file the chunk failed on, reject only that one
        if len(readable) > 1:
            return rejected + [r for d in readable for r in _ingest_chunk(spec, [d], con, settings, known)]
        (delivery,) = readable
        name = delivery.batch.path.name
        message = f"{name}: cannot be processed ({type(exc).__name__}); check the file against the contract"
        result = _reject_file(spec, delivery, message, settings, None)
        warehouse.record_batches(con, [result.pop("_log")])
        return [*rejected, result]


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
        return [_ingest_one(spec, path, con, settings) for path in paths]
    _prepare(con)
    known = _Known.load(con, spec)
    results: list[dict] = []
    chunk: list[_Delivery] = []
    periods: set[str] = set()
    size = 0
    pending: list[dict] = []

    def flush() -> None:
        nonlocal chunk, size
        periods.clear()
        warehouse.record_batches(con, pending)
        pending.clear()
        if chunk:
            started = time.perf_counter()
            done = _ingest_chunk(spec, chunk, con, settings, known)
            results.extend(done)
            if log:
                rows = sum(r.get("rows", 0) for r in done)
                log(f"{spec.source}: {len(chunk)} files, {rows:,} rows in {time.perf_counter() - started:.2f}s")
                for result in done:
                    if result["status"] == "rejected" or result.get("rejected"):
                        log(f"{spec.source}: {result}")
        chunk, size = [], 0

    for path in paths:
        opened = _open(spec, path, known, settings)
        if isinstance(opened, dict):
            if "_log" in opened:
                pending.append(opened.pop("_log"))
                if log:
                    log(f"{spec.source}: {opened}")
            results.append(opened)
            continue
        if opened.batch.period in periods or size >= CHUNK_BYTES:
            flush()
        chunk.append(opened)
        periods.add(opened.batch.period)
        known.hashes.add(opened.batch.content_hash)
        size += opened.size
    flush()
    order = {path.name: i for i, path in enumerate(paths)}
    return sorted(results, key=lambda r: order.get(r["file"], 0))


def _ingest_one(spec: SourceSpec, path: Path, con: duckdb.DuckDBPyConnection, settings: Settings) -> dict:
    """One file through a source's own (pandas) `validate`: the flow of `ingest_files`, per file."""
    known = _Known(*warehouse.ingested_files(con, spec.source), set())
    opened = _open(spec, path, known, settings)
    if isinstance(opened, dict):
        if "_log" in opened:
            warehouse.record_batches(con, [opened.pop("_log")])
        return opened
    batch = opened.batch
    key = settings.get_pseudonym_key() if spec.personal else b""
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
        result = _reject_file(spec, opened, str(exc), settings, None)
        warehouse.record_batches(con, [result.pop("_log")])
        return result
    if len(reasons):
        quarantine(settings, batch, spec.mask(rejected_rows, key), reasons)
    if spec.enrich:
        accepted = spec.enrich(accepted, con, opened.groups)
    raw = spec.to_raw(accepted, key)
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


def ingest_file(spec: SourceSpec, path: Path, con: duckdb.DuckDBPyConnection, settings: Settings) -> dict:
    """One delivered file, one batch (see `ingest_files`)."""
    return ingest_files(spec, [path], con, settings)[0]


def ensure_raw_table(spec: SourceSpec, con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Create the raw table of a source that has not delivered yet, empty and typed as its contract
    says, so models reading it build before the first delivery."""
    if warehouse.table_exists(con, "raw", spec.table):
        return
    if isinstance(spec.validate, SqlValidator):
        _prepare(con)
        key = b"\0" if spec.personal else b""
        delivered = _delivered(spec, [], key)
        con.register("_delivered", delivered)
        try:
            rows = _raw_rows(con, spec, delivered, key, np.array([], np.int64))
        finally:
            _forget(con)
        try:
            warehouse.ensure_table(con, spec.table, f"(select * exclude (_file) from {rows})")
        finally:
            con.execute(f"drop table if exists {rows}")
    elif isinstance(spec.validate, PanderaValidator):
        empty = spec.validate.empty()
        raw = with_lineage(spec.to_raw(empty, b""), Batch(spec.source, Path("none"), "", ""), np.array([], np.int64))
        con.register("_empty", to_arrow(raw, {}))
        try:
            warehouse.ensure_table(con, spec.table, "_empty")
        finally:
            con.unregister("_empty")


def _arrow_type(duckdb_type: str) -> pa.DataType:
    """The Arrow type a DuckDB result column arrives as in pandas (decimals as double)."""
    kind = duckdb_type.upper()
    if kind.startswith(("DECIMAL", "DOUBLE", "FLOAT")):
        return pa.float64()
    return {
        "BOOLEAN": pa.bool_(),
        "DATE": pa.timestamp("us"),
        "TIMESTAMP": pa.timestamp("us"),
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
) -> dict[tuple[str, ...], dict[str, int | float]]:
    """Ingest every complete file in the source's landing folder, each with the spec its name
    matches (a file no spec matches is rejected by the first). Every spec's raw table exists
    afterwards, empty if nothing was delivered. Returns asset metadata per key."""
    source = specs[0].source
    globs = sorted({spec.glob for spec in specs})
    files = sorted({p for pattern in globs for p in landed_files(settings, source, pattern)})
    by_spec: dict[tuple[str, ...], list[Path]] = {spec.asset_key: [] for spec in specs}
    for path in files:
        spec = next((s for s in specs if s.file_pattern.match(path.name)), specs[0])
        by_spec[spec.asset_key].append(path)
    stats: dict[tuple[str, ...], dict[str, int | float]] = {}
    with warehouse.connect(settings) as con:
        logged = warehouse.log_position(con)
        for spec in specs:
            started, cpu = time.perf_counter(), time.process_time()
            results = ingest_files(spec, by_spec[spec.asset_key], con, settings, log)
            ensure_raw_table(spec, con, settings)
            if settings.warehouse == "postgres":
                periods = {r["period"] for r in results if r["status"] == "accepted"}
                shared = postgres.sync_raw_periods(con, settings.require_postgres_dsn(), spec.table, periods)
                if log and periods:
                    log(f"{spec.source}: {shared:,} rows of {len(periods)} periods written to the shared warehouse")
            removed = retention.prune_landing(settings, spec.source, results)
            if log and removed:
                log(f"{spec.source}: {len(removed)} ingested deliveries removed from landing (retention)")
            stats[spec.asset_key] = {
                "files": len(results),
                "rejected_files": sum(r["status"] == "rejected" for r in results),
                "rows_ingested": sum(r.get("rows", 0) for r in results),
                "quarantined_rows": sum(r.get("rejected", 0) for r in results),
                "raw_rows": warehouse.count_rows(con, f"raw.{spec.table}"),
                "seconds": round(time.perf_counter() - started, 3),
                "cpu_seconds": round(time.process_time() - cpu, 3),
            }
        if settings.warehouse == "postgres":
            postgres.append_rows(settings.require_postgres_dsn(), "raw.ingestion_log", warehouse.log_since(con, logged))
    return stats


def materialize_results(stats: dict[tuple[str, ...], dict[str, int | float]]) -> list[dg.MaterializeResult]:
    return [
        dg.MaterializeResult(
            asset_key=dg.AssetKey(list(key)),
            metadata={name: _metadata(value) for name, value in counts.items()},
        )
        for key, counts in stats.items()
    ]


def _metadata(value: int | float) -> dg.MetadataValue:
    return dg.MetadataValue.float(float(value)) if isinstance(value, float) else dg.MetadataValue.int(int(value))


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
    lookup = pd.DataFrame(columns=["postcode6", "buurt_code", "wijk_code"])
    if warehouse.table_exists(con, "raw", PC6_TABLE):
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


def on_distinct(column: pa.ChunkedArray, compute: Callable[[pd.Series], np.ndarray]) -> np.ndarray:
    """`compute` on the distinct values of a text column only, mapped back onto its rows: a
    monthly export lists the same client in many rows."""
    if column.null_count:
        return np.asarray(compute(column.to_pandas()))
    encoded = pc.dictionary_encode(column).combine_chunks()
    return np.asarray(compute(encoded.dictionary.to_pandas()))[encoded.indices.to_numpy()]


PERSON_DERIVED = {"_valid_bsn": lambda table: on_distinct(table["bsn"], valid_bsn)}

# --- Persons in bulk: the counterpart of pseudonymise_person and locate_postcodes -------------


def _hmac_states(key: bytes) -> tuple:
    """The inner and outer SHA-256 states of HMAC under `key` (RFC 2104), computed once."""
    if not key:
        raise ValueError("a pseudonymisation key is required")
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    return hashlib.sha256(bytes(b ^ 0x36 for b in block)), hashlib.sha256(bytes(b ^ 0x5C for b in block))


def keyed_pseudonyms(values: pd.Series, key: bytes, domain: str) -> list[str | None]:
    """The pseudonyms `pseudonymise._hmac_unique` gives (HMAC-SHA256, hex, 32 characters) for
    distinct values, about twice as fast: the key's HMAC states are computed once, not per value."""
    inner, outer = _hmac_states(key)
    prefix = domain.encode() + b":"

    def one(value: object) -> str | None:
        if value is None or value is pd.NA or value != value:
            return None
        digest = inner.copy()
        digest.update(prefix + str(value).encode())
        final = outer.copy()
        final.update(digest.digest())
        return final.hexdigest()[:PSEUDONYM_LENGTH]

    return [one(v) for v in values]


def _distinct(column: pa.ChunkedArray) -> tuple[np.ndarray, pd.Series]:
    """Each row's index into the distinct values of a text column, and those values."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary.to_pandas()


def person_columns(delivered: pa.Table, key: bytes) -> dict[str, pa.Array]:
    """What `pseudonymise_person` and `locate_postcodes` derive from a person, computed by the
    same functions on the distinct BSNs, addresses and birth dates of the delivered rows and
    mapped back: `_bsn_pseudoniem`, `_huishouden_pseudoniem`, `_postcode4`, `_postcode6`,
    `_geboortejaar`. No raw value leaves memory."""
    index, values = _distinct(delivered["bsn"])
    columns = {"_bsn_pseudoniem": pa.array(keyed_pseudonyms(normalise_bsn(values), key, "bsn"), pa.string())}
    postcodes, postcode_values = _distinct(delivered["postcode"])
    numbers, number_values = _distinct(delivered["huisnummer"])
    pairs, address = np.unique(postcodes.astype(np.int64) * len(number_values) + numbers, return_inverse=True)
    postcode = normalise_postcode(postcode_values).reset_index(drop=True)
    line = postcode.iloc[pairs // max(len(number_values), 1)].reset_index(drop=True) + "|"
    line += normalise_huisnummer(number_values).iloc[pairs % max(len(number_values), 1)].reset_index(drop=True)
    columns["_huishouden_pseudoniem"] = pa.array(keyed_pseudonyms(line, key, "adres"), pa.string()).take(address)
    columns["_postcode4"] = pa.array(postcode4(postcode_values), pa.string()).take(postcodes)
    columns["_postcode6"] = pa.array(postcode, pa.string()).take(postcodes)
    births, birth_values = _distinct(delivered["geboortedatum"])
    columns["_geboortejaar"] = pa.array(birth_year(birth_values), pa.int64()).take(births)
    columns["_bsn_pseudoniem"] = columns["_bsn_pseudoniem"].take(index)
    return columns


def persons_select(step: RawStep) -> str:
    """The raw rows of a municipal export: persons replaced by what `person_columns` derived, and
    `buurt_code`/`wijk_code` of the postcode-6 in the latest division up to the file's year."""
    con, relation = step.con, step.relation
    group = next((g for g in ("month", "year") if g in step.groups), None)
    year = f'cast(left(t."_ctx_{group}", 4) as integer)' if group else "0"
    _postcode_lookup(con)
    con.execute(
        f"""
        create or replace temp table _located_years as
        select f.file_year, coalesce(max(p.year) filter (where p.year <= f.file_year), min(p.year)) as year
        from (select distinct {year} as file_year from {relation} t) f
        cross join (select distinct year from _pc6_lookup) p
        group by f.file_year
        """
    )
    out = []
    for column in step.columns:
        if column == "bsn":
            out += [f"t._{name} as {name}" for name in ("bsn_pseudoniem", "huishouden_pseudoniem", "postcode4")]
            out.append("t._geboortejaar as geboortejaar")
        elif column not in PERSON_COLUMNS:
            out.append(f"t.{_quote(column)}")
    return f"""
        select {", ".join(out)}, l.buurt_code, l.wijk_code, {", ".join(f"t.{c}" for c in step.keep)}
        from {relation} t
        left join _located_years y on y.file_year = {year}
        left join _pc6_lookup l on l.year = y.year and l.postcode6 = t._postcode6
    """


PERSONS_TO_RAW = RawSql(person_columns, persons_select)


def _postcode_lookup(con: duckdb.DuckDBPyConnection) -> None:
    """`_pc6_lookup` (year, postcode6 → buurt, wijk) from `raw.cbs_pc6_gwb`, once per connection."""
    made = con.execute(
        "select count(*) from duckdb_tables() where temporary and table_name = '_pc6_lookup'"
    ).fetchone()[0]
    if made:
        return
    if warehouse.table_exists(con, "raw", PC6_TABLE):
        con.execute(
            f"create temp table _pc6_lookup as select year, postcode6, any_value(buurt_code) as buurt_code, "
            f"any_value(wijk_code) as wijk_code from raw.{PC6_TABLE} group by year, postcode6"
        )
    else:
        con.execute(
            "create temp table _pc6_lookup (year integer, postcode6 varchar, buurt_code varchar, wijk_code varchar)"
        )
