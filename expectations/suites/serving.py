"""One suite shape for every published serving table, from the disclosure meta in its dbt YAML.

A serving model declares its columns and, per column, whether it is a count (`disclosure: count`,
optionally limited to rows `where`), a value derived from counts (`disclosure: derived` with its
`base`) or public. The audit turns that declaration into rules that must hold before a publish:
exactly the declared columns, rows present, a valid gemeente code on every row (the row-level
security key), every count suppressed or at least the threshold and rounded, nothing derived from
a suppressed count, and (as a warning) a volume close to what is published now.
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
