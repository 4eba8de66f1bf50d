"""Municipal budgets per domain: one file per year for every gemeente.

Delivered as `budgetten_<year>.csv` in `budgetten/`: `;`-separated, UTF-8, decimal comma,
one row per gemeente × domain (jeugd, wmo, participatie): `gemeentecode;jaar;domein;
begroting_primair;begroting_na_wijziging` in euros (the primary budget and the budget after the
council's amendments). A gemeentenaam column may be present and is ignored.

Raw table `raw.gemeente_budgetten`; period key: the year (the file covers every gemeente).
"""

import re

from dagster_project import ingest
from dagster_project.ingest import Rule

SOURCE = "budgetten"
FILE_PATTERN = re.compile(r"^budgetten_(?P<year>\d{4})\.csv$")
DOMAINS = ["jeugd", "wmo", "participatie"]
COLUMNS = ["gemeentecode", "jaar", "domein", "begroting_primair", "begroting_na_wijziging"]

CONTRACT = ingest.SqlContract(
    columns=COLUMNS,
    rules=[
        *ingest.gemeente_rules(from_file=False),
        ingest.gemeente_valid_on("gemeentecode", "'${year}-01-01'"),
        Rule("jaar", "matches_file_name", "trim(jaar) <> '${year}'"),
        ingest.one_of("domein", DOMAINS),
        *ingest.dutch_amount("begroting_primair"),
        *ingest.dutch_amount("begroting_na_wijziging", optional=True),
    ],
    typed=ingest.trimmed(
        COLUMNS,
        jaar="cast(trim(jaar) as integer)",
        begroting_primair="nl_decimal(begroting_primair)",
        begroting_na_wijziging="nl_decimal(begroting_na_wijziging)",
    ),
    unique=["gemeentecode", "domein"],
)

SPEC = ingest.SourceSpec(
    source=SOURCE,
    table="gemeente_budgetten",
    asset_key=("raw", "gemeente", "budgetten"),
    file_pattern=FILE_PATTERN,
    file_hint="budgetten_<year>.csv",
    period=lambda match: match["year"],
    contract=CONTRACT,
    description="Municipal budgets, one row per gemeente × domain × year, in `raw.gemeente_budgetten`.",
)
budgetten = ingest.source_asset(SPEC)
