"""Suite for ``dim_area`` (dbt ``marts/core``, schema ``marts_core``): one row per area per year."""

from __future__ import annotations

from pathlib import Path

import great_expectations as gx

from expectations.suites import helpers as h

NAME = "dim_area"
SCHEMA = "marts_core"

COLUMNS = ["area_code", "area_name", "area_level", "gemeente_code", "gemeente_name", "wijk_code", "year"]
AREA_LEVELS = ["gemeente", "wijk", "buurt"]


def build(baseline_db: Path | None = None) -> gx.ExpectationSuite:
    """Expectations for dim_area; with ``baseline_db``, also its change against the last publish."""
    baseline = h.published_profile(baseline_db, NAME)
    return h.suite(
        NAME,
        h.columns_present(COLUMNS),
        h.row_count_between(min_value=1),
        h.unique_key(["area_code", "year"]),
        h.not_null(["area_code", "area_name", "area_level", "gemeente_code", "year"]),
        h.in_set("area_level", AREA_LEVELS),
        h.between("year", 2000, 2100),
        h.regex("area_code", r"^(GM\d{4}|WK\d{6}|BU\d{8})$"),
        h.regex("area_code", r"^GM\d{4}$", where="area_level = 'gemeente'"),
        h.regex("area_code", r"^WK\d{6}$", where="area_level = 'wijk'"),
        h.regex("area_code", r"^BU\d{8}$", where="area_level = 'buurt'"),
        h.regex("gemeente_code", r"^GM\d{4}$"),
        h.regex("wijk_code", r"^WK\d{6}$"),
        h.unexpected_rows(
            "select * from {batch} where (area_level = 'gemeente' and wijk_code is not null)"
            " or (area_level in ('wijk', 'buurt') and wijk_code is null)",
            rule="wijk_code_per_level",
            column="wijk_code",
            description="`wijk_code` is null for gemeente rows and set for wijk and buurt rows",
        ),
        # Warning: a sudden change in the number of areas is reported, not blocking.
        h.volume_within(baseline) if baseline else None,
    )
