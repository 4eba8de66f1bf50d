"""Checking a contract: every rule of every row of many files in one DuckDB scan, each file's
placeholders bound per row, rules checked once per distinct combination of the columns they
read, and the reasons (row, column, rule, message) without echoing personal data.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dagster_project.ingest.contract import STRING_LITERAL, SqlContract, all_rules, bind, placeholders, prepare, quote

#: `grouping()` tells the grouping set of a row in a 64-bit mask, a bit per column it lists.
GROUPING_COLUMNS = 60
_IDENTIFIER = re.compile(r'"((?:[^"]|"")*)"|\b([A-Za-z_][A-Za-z0-9_]*)\b')


def _references(condition: str, columns: dict[str, str]) -> frozenset[str]:
    """The columns (`columns`: lower-case name → name) a bound SQL condition may read: every
    identifier outside string literals that names one. A superset is harmless."""
    found = set()
    for quoted, bare in _IDENTIFIER.findall(STRING_LITERAL.sub("''", condition)):
        name = (quoted.replace('""', '"') if quoted else bare).lower()
        if name in columns:
            found.add(columns[name])
    return frozenset(found)


def _flags(conditions: list[tuple[int, str]]) -> str:
    return ", ".join(f"case when coalesce({c}, false) then {i} end" for i, c in conditions)


def failures(
    con: duckdb.DuckDBPyConnection, relation: str, contract: SqlContract, table: pa.Table | None = None
) -> pa.Table:
    """(`_i`, `rule_id`) for every broken rule of every row of `relation`, in one pass over the
    rows for the rules and one aggregate for the key.

    With `table` (the Arrow table registered as `relation`), the rules are grouped by the columns
    they read, and each group is checked once per distinct combination of its columns (one
    aggregate with a grouping set per group: codes, dates and amounts repeat in a monthly export),
    the few that fail mapped back onto their rows: the same answer, a fraction of the work. Rules
    on the key (distinct in every row) and rules that read no column are checked row by row.
    """
    conditions = [(i, f"({bind(rule.fails)})") for i, rule in enumerate(contract.rules)]
    schema = pa.schema([("_i", pa.int64()), ("rule_id", pa.int32())])
    parts = []
    per_row = conditions
    if table is not None and table.num_rows:
        names = {name.lower(): name for name in table.column_names}
        groups: dict[frozenset[str], list[tuple[int, str]]] = {}
        for i, condition in conditions:
            groups.setdefault(_references(condition, names), []).append((i, condition))
        key = set(contract.unique)
        per_row = [m for columns, members in groups.items() if not columns or columns & key for m in members]
        grouped = {columns: members for columns, members in groups.items() if columns and not columns & key}
        parts += [_grouped_failures(con, relation, batch).cast(schema) for batch in _batches(grouped)]
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
        key = ", ".join(quote(c) for c in contract.unique)
        match = " and ".join(f"d.{quote(c)} is not distinct from k.{quote(c)}" for c in ["_file", *contract.unique])
        duplicated = con.execute(
            f"select d._i, {len(contract.rules)} as rule_id from {relation} d join "
            f"(select _file, {key} from {relation} group by all having count(*) > 1) k on {match}"
        ).to_arrow_table()
        parts.append(duplicated.cast(schema))
    broken = pa.concat_tables(parts) if parts else schema.empty_table()
    return broken.sort_by([("_i", "ascending"), ("rule_id", "ascending")])


def _batches(
    groups: dict[frozenset[str], list[tuple[int, str]]], columns: int = GROUPING_COLUMNS
) -> Iterator[dict[frozenset[str], list[tuple[int, str]]]]:
    """`groups` in batches that read at most `columns` columns together."""
    batch: dict[frozenset[str], list[tuple[int, str]]] = {}
    read: set[str] = set()
    for group, members in groups.items():
        if batch and len(read | group) > columns:
            yield batch
            batch, read = {}, set()
        batch[group] = members
        read |= group
    if batch:
        yield batch


def _grouped_failures(
    con: duckdb.DuckDBPyConnection, relation: str, groups: dict[frozenset[str], list[tuple[int, str]]]
) -> pa.Table:
    """(`_i`, `rule_id`) for the rules of `groups` (the columns a group reads → its rules): every
    group's rules checked on the distinct combinations of its columns in one grouping-sets
    aggregate, and the combinations that break a rule joined back onto their rows."""
    columns = sorted({c for group in groups for c in group})
    listed = ", ".join(quote(c) for c in columns)
    bits = {c: 1 << (len(columns) - 1 - i) for i, c in enumerate(columns)}
    masks = {group: sum(bit for c, bit in bits.items() if c not in group) for group in groups}
    sets = ", ".join(f"({', '.join(quote(c) for c in sorted(group))})" for group in groups)
    flags = ", ".join(
        f"case when _set = {masks[group]} and coalesce({c}, false) then {i} end"
        for group, members in groups.items()
        for i, c in members
    )
    where = " or ".join(
        f"(_set = {masks[group]} and ({' or '.join(c for _, c in members)}))" for group, members in groups.items()
    )
    broken = con.execute(
        f"select *, unnest(list_filter([{flags}], x -> x is not null)) as rule_id from ("
        f"select grouping({listed}) as _set, {listed} from {relation} group by grouping sets ({sets})"
        f") where {where}"
    ).to_arrow_table()
    if not broken.num_rows:
        return pa.table({"_i": pa.array([], pa.int64()), "rule_id": pa.array([], pa.int32())})
    failing = set(broken["_set"].to_pylist())
    joins = [
        f"select r._i, b.rule_id from {relation} r join _broken b on b._set = {masks[group]} and "
        + " and ".join(f"r.{quote(c)} is not distinct from b.{quote(c)}" for c in sorted(group))
        for group in groups
        if masks[group] in failing
    ]
    con.register("_broken", broken)
    try:
        return con.execute(" union all ".join(joins)).to_arrow_table()
    finally:
        con.unregister("_broken")


def _raw_type(kind: str) -> str | None:
    """The raw layer keeps decimals as double and dates as timestamps (what it always held)."""
    kind = kind.upper()
    if kind.startswith("DECIMAL"):
        return "double"
    return "timestamp" if kind == "DATE" else None


def typed_select(con: duckdb.DuckDBPyConnection, relation: str, contract: SqlContract) -> str:
    """The select list of the typed columns over `relation`, cast to the raw layer's types."""
    exprs = {name: bind(expression) for name, expression in contract.typed.items()}
    listed = ", ".join(f"{e} as {quote(n)}" for n, e in exprs.items())
    kinds = {name: kind for name, kind, *_ in con.execute(f"describe select {listed} from {relation}").fetchall()}
    parts = []
    for name, expression in exprs.items():
        cast = _raw_type(kinds[name])
        parts.append(f"{f'cast({expression} as {cast})' if cast else expression} as {quote(name)}")
    return ", ".join(parts)


def messages(reasons: pd.DataFrame, rows: pd.DataFrame, contract: SqlContract, file_name: object) -> pd.Series:
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
    chunk = chunk_table([table], [context or {}], contract)
    with _VALIDATOR_LOCK:
        con = _validator()
        prepare(con)
        con.register("_one", chunk)
        try:
            broken = failures(con, "_one", contract, chunk)
            bad = np.unique(broken["_i"].to_numpy())
            con.register("_one_bad", pa.table({"_i": pa.array(bad, pa.int64())}))
            typed = typed_select(con, "_one", contract)
            accepted = con.execute(f"select _row as row, {typed} from _one anti join _one_bad using (_i)").df()
            declared = {name: arrow_type(str(kind)) for name, kind, *_ in con.description}
        finally:
            con.unregister("_one")
            con.unregister("_one_bad")
    accepted.attrs["arrow_types"] = declared
    rules = all_rules(contract)
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
    reasons["message"] = messages(reasons, rejected, contract, file_name)
    return accepted.set_index("row"), reasons, rejected


def _per_file(files: np.ndarray, values: list[str | None]) -> pa.DictionaryArray:
    """A column with one value per file, as dictionary indices into the files' values."""
    return pa.DictionaryArray.from_arrays(pa.array(files, pa.int32()), pa.array(values, pa.string()))


def chunk_table(
    tables: list[pa.Table],
    groups: list[dict[str, str]],
    contract: SqlContract,
    lineage: dict[str, list[str]] | None = None,
) -> pa.Table:
    """The delivered rows of many files as one table: the contract's text columns, `_row`, the
    derived columns, `_file` (the file's position), `_i` (the row's position) and per file its
    `_ctx_<group>` placeholder values and `lineage` columns."""
    schema = pa.schema([(c, pa.string()) for c in contract.columns] + [("_row", pa.int64())])
    selected = [t.select(schema.names) for t in tables]
    # the files parsed together share a schema: cast once per run of them, not once per file
    runs = [pa.concat_tables(list(run)).cast(schema) for _, run in itertools.groupby(selected, lambda t: t.schema)]
    table = pa.concat_tables(runs) if runs else schema.empty_table()
    table = _with_derived(table, contract)
    files = np.repeat(np.arange(len(tables), dtype=np.int32), [t.num_rows for t in tables])
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


def arrow_type(duckdb_type: str) -> pa.DataType:
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
