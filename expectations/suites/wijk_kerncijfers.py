"""Suite for ``serving.wijk_kerncijfers``: one row per wijk per year, disclosure-controlled."""

from __future__ import annotations

import great_expectations as gx

from expectations.suites import helpers as h

NAME = "wijk_kerncijfers"
SCHEMA = "serving"

COLUMNS = [
    "year",
    "gemeente_code",
    "gemeente_name",
    "wijk_code",
    "wijk_name",
    "inwoners",
    "huishoudens",
    "gemiddeld_inkomen",
    "pct_huishoudens_laag_inkomen",
]
COUNT_COLUMNS = ["inwoners", "huishoudens"]

#: Plausible size of the table (about 3,300 wijken per year in the Netherlands, a few years):
#: outside this range something upstream changed; reported, not blocking.
EXPECTED_ROWS = (1, 100_000)


def build() -> gx.ExpectationSuite:
    """Expectations for wijk_kerncijfers."""
    return h.suite(
        NAME,
        h.columns_present(COLUMNS),
        h.row_count_between(min_value=1),
        h.unique_key(["wijk_code", "year"]),
        h.not_null(["year", "gemeente_code", "wijk_code"]),
        h.regex("wijk_code", r"^WK\d{6}$"),
        h.regex("gemeente_code", r"^GM\d{4}$"),
        h.disclosure_counts(COUNT_COLUMNS),
        h.between("pct_huishoudens_laag_inkomen", 0, 100),
        h.between("gemiddeld_inkomen", min_value=0),
        h.area_in_dim_area("wijk_code"),
        h.area_in_dim_area("gemeente_code"),
        # Warnings: reported in the audit result and Data Docs, never block the publish.
        h.every_area_present("wijk_code", "wijk", severity=h.WARNING),
        h.not_null(["gemeente_name", "wijk_name"], severity=h.WARNING),
        h.row_count_between(*EXPECTED_ROWS, severity=h.WARNING),
    )
