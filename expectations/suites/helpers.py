"""Small builders so a suite per published table stays a short list of rules.

Every builder returns one GX 1.x expectation carrying ``meta["severity"]`` (``"error"`` blocks the
publish, ``"warning"`` is reported only) and, where a rule is not tied to a single GX column
argument, ``meta["column"]`` and ``meta["rule"]`` so an audit failure names what broke.

Rules GX cannot express on DuckDB natively are written as ``UnexpectedRowsExpectation`` queries
that run inside DuckDB: ``{batch}`` is the table under audit. GX substitutes it as an already
aliased subquery (``(SELECT ...) AS subselect``), so never alias it again: name it in a CTE
(``with b as (select * from {batch}) ...``). A query with a join is the exception: there GX
leaves ``{batch}`` unaliased, and PostgreSQL needs one (``select * from {batch} as batch_rows``).
GX formats the query with ``str.format``, so a literal brace in SQL must be doubled
(``sql_literal`` does this).

GX's ``expect_column_values_to_match_regex`` has no DuckDB dialect (it reports "Regex is not
supported for dialect duckdb"), so ``regex`` uses DuckDB's ``regexp_matches`` (search semantics,
like GX's: anchor the pattern with ``^...$`` for a full match), or PostgreSQL's ``~`` when suites
are built for the shared warehouse (``sql_dialect("postgres")``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.metadata_types import FailureSeverity

Severity = Literal["error", "warning"]
Dialect = Literal["duckdb", "postgres"]

ERROR: Severity = "error"
WARNING: Severity = "warning"

#: Disclosure-control defaults (docs/architecture.md): counts below the threshold are suppressed,
#: others rounded to the base.
DISCLOSURE_THRESHOLD = 10
ROUNDING_BASE = 5

#: Where the shared PostgreSQL warehouse publishes (``dagster_project.publish.schema_swap``).
PUBLISHED_SCHEMA = "published"

#: Where the area dimension lives in the build database.
DIM_AREA = "marts_core.dim_area"

#: Change against the last published run that is still "normal" (a fraction, both directions).
VOLUME_TOLERANCE = 0.2
DRIFT_TOLERANCE = 0.1


_DIALECT: ContextVar[Dialect] = ContextVar("sql_dialect", default="duckdb")


@contextmanager
def sql_dialect(dialect: Dialect) -> Iterator[None]:
    """Build suites for the warehouse they will run on (the few rules whose SQL differs)."""
    token = _DIALECT.set(dialect)
    try:
        yield
    finally:
        _DIALECT.reset(token)


def _matches_sql(value: str, pattern: str) -> str:
    if _DIALECT.get() == "postgres":
        return f"{value} ~ {sql_literal(pattern)}"
    return f"regexp_matches({value}, {sql_literal(pattern)})"


def _meta(severity: Severity, **extra: Any) -> dict[str, Any]:
    if severity not in (ERROR, WARNING):
        raise ValueError(f"severity must be 'error' or 'warning', not {severity!r}")
    return {"severity": severity, **{k: v for k, v in extra.items() if v is not None}}


def _gx_severity(severity: Severity) -> FailureSeverity:
    return FailureSeverity.CRITICAL if severity == ERROR else FailureSeverity.WARNING


def _with_severity(expectation: gxe.Expectation, severity: Severity, **meta: Any) -> gxe.Expectation:
    expectation.meta = _meta(severity, **meta)
    expectation.severity = _gx_severity(severity)
    return expectation


def ident(name: str) -> str:
    """Quote a SQL identifier for DuckDB (and double braces for GX's ``str.format``)."""
    return ('"' + name.replace('"', '""') + '"').replace("{", "{{").replace("}", "}}")


def sql_literal(value: str) -> str:
    """Quote a SQL string literal for DuckDB (and double braces for GX's ``str.format``)."""
    return ("'" + value.replace("'", "''") + "'").replace("{", "{{").replace("}", "}}")


# --- table shape ---------------------------------------------------------------------------------


def columns_present(columns: Iterable[str], severity: Severity = ERROR) -> gxe.Expectation:
    """The table has (at least) these columns."""
    return _with_severity(
        gxe.ExpectTableColumnsToMatchSet(column_set=list(columns), exact_match=False),
        severity,
        rule="columns_present",
    )


def exact_columns(columns: Iterable[str], severity: Severity = ERROR) -> gxe.Expectation:
    """The table has exactly these columns (any order): nothing is published undeclared."""
    return _with_severity(
        gxe.ExpectTableColumnsToMatchSet(column_set=list(columns), exact_match=True),
        severity,
        rule="exact_columns",
    )


def row_count_between(
    min_value: int | None = 1, max_value: int | None = None, severity: Severity = ERROR
) -> gxe.Expectation:
    """Row count within ``[min_value, max_value]`` (a bound of None is open)."""
    return _with_severity(
        gxe.ExpectTableRowCountToBeBetween(min_value=min_value, max_value=max_value),
        severity,
        rule="row_count",
    )


# --- keys and completeness -----------------------------------------------------------------------


def unique_key(columns: Sequence[str], severity: Severity = ERROR) -> gxe.Expectation:
    """The combination of ``columns`` is unique (one column: values unique)."""
    if len(columns) == 1:
        expectation: gxe.Expectation = gxe.ExpectColumnValuesToBeUnique(column=columns[0])
    else:
        expectation = gxe.ExpectCompoundColumnsToBeUnique(column_list=list(columns))
    return _with_severity(expectation, severity, rule="unique_key")


def not_null(columns: Iterable[str], severity: Severity = ERROR) -> list[gxe.Expectation]:
    """One not-null expectation per column."""
    return [
        _with_severity(gxe.ExpectColumnValuesToNotBeNull(column=column), severity, rule="not_null")
        for column in columns
    ]


# --- values --------------------------------------------------------------------------------------


def between(
    column: str,
    min_value: float | None = None,
    max_value: float | None = None,
    severity: Severity = ERROR,
) -> gxe.Expectation:
    """Non-null values of ``column`` lie within ``[min_value, max_value]``."""
    return _with_severity(
        gxe.ExpectColumnValuesToBeBetween(column=column, min_value=min_value, max_value=max_value),
        severity,
        rule="between",
    )


def in_set(column: str, values: Iterable[Any], severity: Severity = ERROR) -> gxe.Expectation:
    """Non-null values of ``column`` are in ``values``."""
    return _with_severity(
        gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values)), severity, rule="in_set"
    )


def unexpected_rows(
    query: str,
    *,
    rule: str,
    column: str | None = None,
    description: str | None = None,
    severity: Severity = ERROR,
) -> gxe.Expectation:
    """A rule as SQL that selects the offending rows of ``{batch}``; passes when none come back."""
    expectation = gxe.UnexpectedRowsExpectation(unexpected_rows_query=query, description=description)
    return _with_severity(expectation, severity, rule=rule, column=column)


def not_multiple_of(value: str, base: int) -> str:
    """SQL: `value` is not a multiple of `base`, for integers and doubles on DuckDB and PostgreSQL
    (PostgreSQL has no `%` for double precision)."""
    return f"{value} <> round({value} / {int(base)}.0) * {int(base)}"


def no_lonely_hidden_cell(
    column: str, groups: Sequence[str], *, where: str = "true", severity: Severity = ERROR
) -> gxe.Expectation:
    """Within every group whose total is published (``groups``: e.g. year and gemeente), ``column``
    is hidden (null) in no cell or in at least two: a single hidden cell is the total minus the rest."""
    keys = ", ".join(ident(g) for g in groups)
    c = ident(column)
    return unexpected_rows(
        f"select * from (select *, count(*) over (partition by {keys}) as mmr_cells,"
        f" count({c}) over (partition by {keys}) as mmr_shown from {{batch}} where ({where})) as grouped"
        " where mmr_cells > 1 and mmr_cells - mmr_shown = 1",
        rule="disclosure_group",
        column=column,
        description=f"`{column}` is never hidden in exactly one cell of a group ({', '.join(groups)})",
        severity=severity,
    )


def no_lonely_hidden_part(total: str, parts: Sequence[str], *, severity: Severity = ERROR) -> gxe.Expectation:
    """Along a row where ``parts`` add up to ``total``, never exactly one of them hidden."""
    hidden = " + ".join(f"case when {ident(c)} is null then 1 else 0 end" for c in [total, *parts])
    return unexpected_rows(
        f"select * from {{batch}} where {hidden} = 1",
        rule="disclosure_row_total",
        column=total,
        description=f"never exactly one hidden cell among `{total}` = {' + '.join(parts)}",
        severity=severity,
    )


def regex(
    column: str,
    pattern: str,
    *,
    where: str | None = None,
    severity: Severity = ERROR,
) -> gxe.Expectation:
    """Non-null values of ``column`` match ``pattern`` (optionally only rows satisfying ``where``)."""
    value = f"cast({ident(column)} as varchar)"
    condition = f"{ident(column)} is not null and not {_matches_sql(value, pattern)}"
    if where:
        condition = f"({where}) and {condition}"
    return unexpected_rows(
        f"select * from {{batch}} where {condition}",
        rule="regex",
        column=column,
        description=f"`{column}` matches `{pattern}`" + (f" where {where}" if where else ""),
        severity=severity,
    )


# --- disclosure control (docs/architecture.md) ---------------------------------------------------


def disclosure_counts(
    columns: Iterable[str],
    threshold: int = DISCLOSURE_THRESHOLD,
    rounding_base: int = ROUNDING_BASE,
    severity: Severity = ERROR,
) -> list[gxe.Expectation]:
    """Published counts are suppressed (null) or at least ``threshold`` and a multiple of the base."""
    expectations: list[gxe.Expectation] = []
    for column in columns:
        expectations.append(
            _with_severity(
                gxe.ExpectColumnValuesToBeBetween(column=column, min_value=threshold),
                severity,
                rule="disclosure_threshold",
            )
        )
        expectations.append(
            unexpected_rows(
                f"select * from {{batch}} where {ident(column)} is not null"
                f" and {not_multiple_of(ident(column), rounding_base)}",
                rule="disclosure_rounding",
                column=column,
                description=f"`{column}` is rounded to a multiple of {rounding_base}",
                severity=severity,
            )
        )
    return expectations


# --- references to the area dimension ------------------------------------------------------------


def area_in_dim_area(
    column: str,
    *,
    year_column: str | None = "year",
    dim_area: str = DIM_AREA,
    severity: Severity = ERROR,
) -> gxe.Expectation:
    """Every non-null area code in ``column`` exists in ``dim_area`` (for the same year)."""
    on = f"a.area_code = b.{ident(column)}"
    if year_column:
        on += f" and a.year = b.{ident(year_column)}"
    return unexpected_rows(
        # a query with a join gets the batch unaliased: name it (PostgreSQL requires it)
        f"with b as (select * from {{batch}} as batch_rows)"
        f" select b.* from b left join {dim_area} as a on {on}"
        f" where b.{ident(column)} is not null and a.area_code is null",
        rule="area_in_dim_area",
        column=column,
        description=f"every `{column}` exists in {dim_area}",
        severity=severity,
    )


def every_area_present(
    column: str,
    area_level: str,
    *,
    year_column: str = "year",
    dim_area: str = DIM_AREA,
    severity: Severity = ERROR,
) -> gxe.Expectation:
    """Every area of ``area_level`` in ``dim_area`` has a row, for each year the table covers."""
    yc = ident(year_column)
    return unexpected_rows(
        f"with b as (select * from {{batch}})"
        f" select a.* from {dim_area} as a"
        f" where a.area_level = {sql_literal(area_level)}"
        f" and a.year in (select distinct {yc} from b)"
        f" and not exists (select 1 from b where b.{ident(column)} = a.area_code and b.{yc} = a.year)",
        rule="every_area_present",
        column=column,
        description=f"every {area_level} of {dim_area} has a row per year",
        severity=severity,
    )


# --- change against the last published run -------------------------------------------------------


@dataclass(frozen=True)
class PublishedProfile:
    """Row count and column means of a table as it is published now (the baseline of a run)."""

    table: str
    rows: int
    means: dict[str, float | None] = field(default_factory=dict)


def published_profile(
    serving_db: Path | str | None, table: str, mean_columns: Sequence[str] = ()
) -> PublishedProfile | None:
    """Profile ``table`` in the published serving database (opened read-only), or None.

    None when nothing is published yet or the table (or a column) is not in it: a first publish
    has nothing to compare with. Published tables live in the file's ``main`` schema; when suites
    are built for the shared warehouse (``sql_dialect("postgres")``), ``serving_db`` is its DSN and
    they live in its ``published`` schema.
    """
    if _DIALECT.get() == "postgres":
        return _published_profile_postgres(serving_db, table, mean_columns)
    if serving_db is None or not Path(serving_db).exists():
        return None
    try:
        with duckdb.connect(str(serving_db), read_only=True) as con:
            rows = con.execute(f"select count(*) from main.{ident(table)}").fetchone()[0]
            means = {
                column: con.execute(f"select avg({ident(column)}) from main.{ident(table)}").fetchone()[0]
                for column in mean_columns
            }
    except duckdb.Error:
        return None
    return PublishedProfile(table=table, rows=int(rows), means={k: _float(v) for k, v in means.items()})


def _published_profile_postgres(dsn: str, table: str, mean_columns: Sequence[str]) -> PublishedProfile | None:
    """The same profile of `published.<table>` on the shared warehouse (DSN), or None."""
    import psycopg

    relation = f"{PUBLISHED_SCHEMA}.{ident(table)}"
    try:
        with psycopg.connect(dsn) as con:
            rows = con.execute(f"select count(*) from {relation}").fetchone()[0]
            means = {c: con.execute(f"select avg({ident(c)}) from {relation}").fetchone()[0] for c in mean_columns}
    except psycopg.Error:
        return None
    return PublishedProfile(table=table, rows=int(rows), means={k: _float(v) for k, v in means.items()})


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def volume_within(
    baseline: PublishedProfile, tolerance: float = VOLUME_TOLERANCE, severity: Severity = WARNING
) -> gxe.Expectation:
    """Row count within ``tolerance`` of the row count published now."""
    low = math.floor(baseline.rows * (1 - tolerance))
    high = math.ceil(baseline.rows * (1 + tolerance))
    expectation = gxe.ExpectTableRowCountToBeBetween(
        min_value=max(low, 0),
        max_value=high,
        description=f"row count within ±{tolerance:.0%} of the {baseline.rows} rows of the published "
        f"`{baseline.table}`",
    )
    return _with_severity(expectation, severity, rule="volume_change", baseline=baseline.rows)


def mean_within(
    column: str, baseline: PublishedProfile, tolerance: float = DRIFT_TOLERANCE, severity: Severity = WARNING
) -> gxe.Expectation | None:
    """Mean of ``column`` within ``tolerance`` (relative) of its published mean; None without a baseline."""
    mean = baseline.means.get(column)
    if mean is None:
        return None
    spread = abs(mean) * tolerance
    expectation = gxe.ExpectColumnMeanToBeBetween(
        column=column,
        min_value=mean - spread,
        max_value=mean + spread,
        description=f"mean of `{column}` within ±{tolerance:.0%} of the published mean {mean:.4g}",
    )
    return _with_severity(expectation, severity, rule="distribution_drift", baseline=mean)


def suite(name: str, *expectations: gxe.Expectation | Iterable[gxe.Expectation] | None) -> gx.ExpectationSuite:
    """An ExpectationSuite named ``name`` from expectations (or lists of them; None is skipped)."""
    flat: list[gxe.Expectation] = []
    for item in expectations:
        if item is None:  # an optional rule that does not apply (e.g. no published baseline yet)
            continue
        if isinstance(item, gxe.Expectation):
            flat.append(item)
        else:
            flat.extend(item)
    return gx.ExpectationSuite(name=name, expectations=flat)
