"""One suite shape for every published serving table, from the disclosure meta in its dbt YAML.

A serving model declares its columns and, per column, whether it is a count (`disclosure: count`,
optionally limited to rows `where`), a value derived from counts (`disclosure: derived` with its
`base`) or public. The audit turns that declaration into rules that must hold before a publish:
exactly the declared columns, rows present, a valid gemeente code on every row (the row-level
security key), every count suppressed or at least the threshold and rounded, nothing derived from
a suppressed count, never exactly one hidden cell in a group whose total is published or along a
row whose parts add up to a published total, and (as a warning) a volume close to what is published now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import great_expectations as gx

from expectations.suites import helpers as h


@dataclass(frozen=True)
class ServingContract:
    """What a serving table promises, read from its dbt YAML."""

    table: str
    columns: list[str]
    counts: dict[str, str] = field(default_factory=dict)
    derived: dict[str, list[str]] = field(default_factory=dict)
    #: columns of a group whose total is published (model meta `disclosure_groups`)
    groups: list[str] = field(default_factory=list)
    #: (total, parts) along a row (model meta `disclosure_row_totals`)
    row_totals: list[tuple[str, list[str]]] = field(default_factory=list)
    #: column -> the client cell it shows or rests on (column meta `cell`: SQL for level, area,
    #: year and domain, and `where`), decided once in disclosure_cells
    cells: dict[str, dict[str, str]] = field(default_factory=dict)
    threshold: int = h.DISCLOSURE_THRESHOLD
    rounding_base: int = h.ROUNDING_BASE


def build(contract: ServingContract, name: str, baseline_db: Path | None = None) -> gx.ExpectationSuite:
    """The suite `name` (the dbt model's name: a published table name may equal a mart's)."""
    baseline = h.published_profile(baseline_db, contract.table)
    return h.suite(
        name,
        h.exact_columns(contract.columns),
        # Empty while a source has not delivered yet: reported, not a reason to hold back the rest.
        h.row_count_between(min_value=1, severity=h.WARNING),
        h.not_null(["gemeente_code"]),
        h.regex("gemeente_code", r"^GM\d{4}$"),
        *(_published_count(contract, column, where) for column, where in contract.counts.items()),
        *(_derived(column, bases) for column, bases in contract.derived.items()),
        *(
            h.no_lonely_hidden_cell(column, contract.groups, where=where)
            for column, where in (contract.counts.items() if contract.groups else [])
        ),
        *(h.no_lonely_hidden_part(total, parts) for total, parts in contract.row_totals),
        *(_hidden_cell(column, cell) for column, cell in contract.cells.items()),
        h.volume_within(baseline) if baseline else None,
    )


def _published_count(contract: ServingContract, column: str, where: str) -> object:
    c = h.ident(column)
    return h.unexpected_rows(
        f"select * from {{batch}} where ({where}) and {c} is not null"
        f" and ({c} < {int(contract.threshold)} or {h.not_multiple_of(c, contract.rounding_base)})",
        rule="disclosure_count",
        column=column,
        description=f"`{column}` is suppressed, or at least {contract.threshold} and a multiple of "
        f"{contract.rounding_base}" + (f" (rows where {where})" if where != "true" else ""),
    )


def _derived(column: str, bases: list[str]) -> object:
    hidden_base = " or ".join(f"{h.ident(base)} is null" for base in bases)
    return h.unexpected_rows(
        f"select * from {{batch}} where {h.ident(column)} is not null and ({hidden_base})",
        rule="disclosure_base",
        column=column,
        description=f"`{column}` is hidden whenever {', '.join(bases)} is",
    )


#: Where the one suppression decision per client cell lives in the build database.
DISCLOSURE_CELLS = "marts_disclosure.disclosure_cells"


def _hidden_cell(column: str, cell: dict[str, str]) -> object:
    key = ", ".join(f"({cell[part]})" for part in ("level", "area", "year", "domein"))
    return h.unexpected_rows(
        f"select * from {{batch}} where ({cell.get('where', 'true')}) and {h.ident(column)} is not null"
        f" and ({key}) in (select area_level, area_code, year, domein from {DISCLOSURE_CELLS} where hidden)",
        rule="disclosure_cell",
        column=column,
        description=f"`{column}` is hidden wherever the client count it rests on is hidden (disclosure_cells)",
    )
