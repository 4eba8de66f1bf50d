"""The contract language: a delivered table's rules as DuckDB SQL conditions over its text
columns, and the building blocks sources write their contracts with.

A `Rule` is true where a row breaks it; `${name}` placeholders take the groups of the file name,
so the rules of many files are checked in one query (`bind`). Code lists are loaded once into the
checking connection as `codes_<name>` (`code_list`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from dagster_project.settings import PROJECT_ROOT

#: `strip(s)` is `trim(s)` (leading and trailing spaces), but keeps a value without them as it
#: is instead of copying it: typing a national delivery trims a hundred million values of each
#: column, nearly all of them already trim.
SQL_MACROS = [
    "create or replace temp macro strip(s) as "
    "case when starts_with(s, ' ') or ends_with(s, ' ') then trim(s) else s end",
    "create or replace temp macro nl_date(s) as try_strptime(nullif(strip(s), ''), '%d-%m-%Y')::date",
    "create or replace temp macro nl_decimal(s) as "
    "try_cast(replace(replace(nullif(strip(s), ''), '.', ''), ',', '.') as decimal(18, 2))",
    "create or replace temp macro is_nl_decimal(s) as "
    r"regexp_full_match(strip(s), '-?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?')",
    "create or replace temp macro num(s) as try_cast(nullif(nullif(strip(s), ''), '.') as double)",
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


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_in(values: Iterable[str]) -> str:
    """A SQL list literal, e.g. for a referential check against a code list."""
    return "(" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in sorted(set(values))) + ")"


CODE_LISTS: dict[str, frozenset[str]] = {}
STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def placeholders(contract: SqlContract) -> list[str]:
    """The file-name groups a contract's rules and typed columns refer to."""
    texts = [rule.fails for rule in contract.rules] + list(contract.typed.values())
    return sorted({name for text in texts for name in _PLACEHOLDER.findall(text)})


def bind(sql: str) -> str:
    """Turn `${name}` placeholders into references to the column `_ctx_<name>`, which holds the
    value for each row's file, so the rules of many files are checked in one query."""

    def literal(match: re.Match[str]) -> str:
        text = match.group(0)
        if "${" not in text:
            return text
        parts = _PLACEHOLDER.split(text[1:-1])
        pieces = [quote(f"_ctx_{p}") if i % 2 else f"'{p}'" for i, p in enumerate(parts) if i % 2 or p]
        return "(" + " || ".join(pieces) + ")"

    out, position = [], 0
    for match in STRING_LITERAL.finditer(sql):
        out.append(_PLACEHOLDER.sub(lambda m: quote(f"_ctx_{m.group(1)}"), sql[position : match.start()]))
        out.append(literal(match))
        position = match.end()
    out.append(_PLACEHOLDER.sub(lambda m: quote(f"_ctx_{m.group(1)}"), sql[position:]))
    return "".join(out)


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """The parsing macros and the code lists, as temporary objects of this connection."""
    for macro in SQL_MACROS:
        con.execute(macro)
    for name, values in CODE_LISTS.items():
        con.register("_codes", pa.table({"code": pa.array(sorted(values), pa.string())}))
        con.execute(f"create or replace temp table codes_{name} as select * from _codes")
        con.unregister("_codes")


def all_rules(contract: SqlContract) -> list[Rule]:
    rules = list(contract.rules)
    if contract.unique:
        rules.append(Rule("+".join(contract.unique), "unique", "duplicated key"))
    return rules


SEEDS_DIR = PROJECT_ROOT / "dbt" / "seeds"


@lru_cache
def reference_codes(seed: str, column: str = "code") -> frozenset[str]:
    """The values of one column of a code list in `dbt/seeds/` (for referential checks)."""
    frame = pd.read_csv(SEEDS_DIR / f"{seed}.csv", dtype=str, keep_default_na=False)
    return frozenset(frame[column])


def text(column: str) -> str:
    return f"trim({quote(column)})"


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
    fails = f"nl_date({quote(column)}) is null"
    return Rule(column, "date_dd_mm_yyyy", f"{text(column)} <> '' and {fails}" if optional else fails)


def end_after_start(start: str, end: str) -> Rule:
    return Rule(end, "end_not_before_start", f"nl_date({quote(end)}) < nl_date({quote(start)})")


def dutch_amount(column: str, optional: bool = False) -> list[Rule]:
    """A number with a decimal comma (`1234,50`, `1.234,50`) that is not negative."""
    fails = f"not is_nl_decimal({quote(column)})"
    return [
        Rule(column, "dutch_decimal", f"{text(column)} <> '' and {fails}" if optional else fails),
        Rule(column, "non_negative", f"nl_decimal({quote(column)}) < 0"),
    ]


def number_in_range(column: str, low: float | None = 0, high: float | None = None, secret: str = ".") -> list[Rule]:
    """A number with a decimal point, optionally kept secret (CBS `.`), within [low, high]."""
    value = f"num({quote(column)})"
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


def trimmed(columns: Iterable[str], **typed: str) -> dict[str, str]:
    """A contract's `typed` in the order of `columns`: each column trimmed text, unless `typed`
    gives its SQL."""
    return {column: typed.get(column, f"strip({quote(column)})") for column in columns}


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
