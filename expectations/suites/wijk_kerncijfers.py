"""Suite for ``serving.wijk_kerncijfers``: one row per wijk per year, disclosure-controlled."""

from __future__ import annotations

from pathlib import Path

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
#: The key indicator whose distribution is compared with the last publish.
DRIFT_COLUMNS = ["gemiddeld_inkomen"]

#: Plausible size of the table (about 3,300 wijken per year in the Netherlands, a few years):
#: outside this range something upstream changed; reported, not blocking.
EXPECTED_ROWS = (1, 100_000)


def build(baseline_db: Path | None = None) -> gx.ExpectationSuite:
    """Expectations for wijk_kerncijfers; with ``baseline_db``, also its change against the last publish."""
    baseline = h.published_profile(baseline_db, NAME, DRIFT_COLUMNS)
    return h.suite(
        NAME,
        h.columns_present(COLUMNS),
        # Every published column is declared above, so no count column reaches the dashboards
        # without its disclosure rules: a new column fails here until it is added to the suite.
        h.exact_columns(COLUMNS),
        h.row_count_between(min_value=1),
        h.unique_key(["wijk_code", "year"]),
        h.not_null(["year", "gemeente_code", "wijk_code"]),
        h.regex("wijk_code", r"^WK\d{6}$"),
        h.regex("gemeente_code", r"^GM\d{4}$"),
        h.disclosure_counts(COUNT_COLUMNS),
        # Within a gemeente-year a hidden wijk always has a hidden partner (the gemeente total is public).
        *(h.no_lonely_hidden_cell(column, ["year", "gemeente_code"]) for column in COUNT_COLUMNS),
        h.between("pct_huishoudens_laag_inkomen", 0, 100),
        h.between("gemiddeld_inkomen", min_value=0),
        h.area_in_dim_area("wijk_code"),
        h.area_in_dim_area("gemeente_code"),
        # Completeness: every wijk of dim_area has its row in the published table.
        h.every_area_present("wijk_code", "wijk"),
        # Warnings: reported in the audit result and Data Docs, never block the publish.
        h.not_null(["gemeente_name", "wijk_name"], severity=h.WARNING),
        h.row_count_between(*EXPECTED_ROWS, severity=h.WARNING),
        h.volume_within(baseline) if baseline else None,
        *(h.mean_within(column, baseline) for column in DRIFT_COLUMNS if baseline),
    )
