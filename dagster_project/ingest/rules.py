"""Contract rules the sources share beyond the building blocks in `contract.py`.

- Dates must be plausible (not before 1900, not in the future) and fit the delivered period: a
  monthly export lists what was active in its month, so nothing in it starts after the month or
  ended before it.
- A gemeente must have existed in the delivered period, not merely once: after a merger the old
  code (or name) delivering for a later period is an unknown gemeente for that period. Validity
  comes from `ref_gemeenten` (`valid_from` inclusive, `valid_to` exclusive).
- Extra columns are accepted and ignored: the raw table keeps the contract's columns only, and a
  warning names the file and the ignored columns (publishers add columns; that must not stop a
  delivery, and an unknown column must not reach the warehouse). A missing or renamed column
  rejects the whole file.
"""

from functools import lru_cache

import pandas as pd

from dagster_project.ingest.contract import SEEDS_DIR, Rule, code_list, quote, reference_codes

EARLIEST = "1900-01-01"
MONTH_START = "strptime('${month}-01', '%Y-%m-%d')::date"


def date_in_range(column: str, future: bool = False) -> Rule:
    """Not before 1900; not after today unless the date may lie ahead (a planned end)."""
    value = f"nl_date({quote(column)})"
    fails = f"{value} < date '{EARLIEST}'" + ("" if future else f" or {value} > current_date")
    return Rule(column, "date_in_range", fails)


def within_month(start: str, end: str) -> list[Rule]:
    """Rows of a monthly export (`${month}` from the file name) were active in that month."""
    return [
        Rule(start, "start_after_period", f"nl_date({quote(start)}) > last_day({MONTH_START})"),
        Rule(end, "end_before_period", f"nl_date({quote(end)}) < {MONTH_START}"),
    ]


@lru_cache(maxsize=1)
def gemeenten() -> pd.DataFrame:
    frame = pd.read_csv(SEEDS_DIR / "ref_gemeenten.csv", dtype=str, keep_default_na=False)
    return frame.assign(upper=frame["name"].str.upper())


def valid_on(day: str) -> pd.DataFrame:
    """The gemeenten that existed on an ISO date."""
    frame = gemeenten()
    started = (frame["valid_from"] == "") | (frame["valid_from"] <= day)
    running = (frame["valid_to"] == "") | (frame["valid_to"] > day)
    return frame[started & running]


def gemeente_valid_on(column: str, day_sql: str, by: str = "code", value_sql: str | None = None) -> Rule:
    """The value (a GM code, or with `by="upper"` an upper-case name) names a gemeente that
    existed on `day_sql`, an ISO date string expression (may use `${year}`/`${month}`).
    A value not in the code list at all is left to the `known_*` rule, so it gets one reason."""
    frame = gemeenten()
    periods = frame[by] + "|" + frame["valid_from"] + "|" + frame["valid_to"]
    codes = code_list(f"ref_gemeenten_geldig_{by}", periods)
    value = value_sql or f"trim({quote(column)})"
    fails = (
        f"exists (select 1 from {codes} as ref where split_part(ref.code, '|', 1) = {value}) "
        f"and not exists (select 1 from {codes} as ref where split_part(ref.code, '|', 1) = {value} "
        f"and split_part(ref.code, '|', 2) <= {day_sql} "
        f"and (split_part(ref.code, '|', 3) = '' or split_part(ref.code, '|', 3) > {day_sql}))"
    )
    return Rule(column, "gemeente_valid_in_period", fails)


def municipal_rules(start: str = "startdatum", end: str = "einddatum") -> list[Rule]:
    """What every monthly municipal export adds to its contract."""
    return [
        gemeente_valid_on("gemeentecode", "'${month}-01'"),
        date_in_range("geboortedatum", future=True),
        date_in_range(start),
        date_in_range(end, future=True),
        *within_month(start, end),
    ]


def area_in_gemeente_of_year(column: str) -> list[Rule]:
    """A CBS area code (GM, WK or BU + the gemeente's four digits) lies in a gemeente of
    `ref_gemeenten` that existed on 1 January of the file's year (`${year}`)."""
    gemeente = f"'GM' || substr(trim({column}), 3, 4)"
    return [
        Rule(
            column,
            "known_ref_gemeenten",
            f"{gemeente} not in {code_list('ref_gemeenten', reference_codes('ref_gemeenten'))}",
        ),
        gemeente_valid_on(column, "'${year}-01-01'", value_sql=gemeente),
    ]
