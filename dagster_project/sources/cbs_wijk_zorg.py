"""CBS care use per wijk (jeugdhulp, Wmo-cliënten, bijstand): one file per year.

Delivered as `wijk_zorg_<year>.csv`, the StatLine typed-dataset CSV of the CBS tables on
jeugdhulp, Wmo clients and social assistance per wijk, in the same layout as KWB: `;`-separated,
quoted header and strings, area codes and names space-padded, decimal point, a lone `.` where CBS
keeps a value secret (counts below 10), column names with a numeric suffix that may change from
year to year (`WmoClienten_7`). One row per gemeente and wijk. Perioden is `<year>JJ00` and must
match the year in the file name. Counts are distinct persons in the year, rounded to fives;
relative figures are percent of youth 0-17 (jeugdhulp) or per 1,000 inhabitants (Wmo, bijstand).
The raw layer drops the suffix and lowercases the names; secret values become null.

Period key: the year.
"""

import re

from dagster_project import ingest
from dagster_project.ingest import Rule

SOURCE = "cbs_wijk_zorg"
FILE_PATTERN = re.compile(r"^wijk_zorg_(?P<year>\d{4})\.csv$")

COUNTS = ["JongerenMetJeugdhulp", "JeugdhulpMetVerblijf", "WmoClienten", "PersonenMetBijstand"]
RELATIVE = {"JongerenMetJeugdhulpRelatief": 100, "WmoClientenRelatief": 1000, "PersonenMetBijstandRelatief": 1000}
COLUMNS = ["WijkenEnBuurten", "Gemeentenaam", "SoortRegio", "Codering", "Perioden", *COUNTS, *RELATIVE]


def strip_suffix(column: str) -> str:
    """`WmoClienten_7` → `WmoClienten`."""
    return re.sub(r"_\d+$", "", column)


CONTRACT = ingest.SqlContract(
    columns=COLUMNS,
    rules=[
        ingest.matches("WijkenEnBuurten", f"({ingest.GM_CODE}|{ingest.WK_CODE})", "area_code"),
        Rule("Codering", "code_matches_codering", "trim(Codering) <> trim(WijkenEnBuurten)"),
        ingest.one_of("SoortRegio", ["Gemeente", "Wijk"]),
        Rule(
            "SoortRegio",
            "level_matches_code",
            "(trim(SoortRegio) = 'Gemeente') <> starts_with(trim(WijkenEnBuurten), 'GM')",
        ),
        *ingest.area_in_gemeente_of_year("WijkenEnBuurten"),
        ingest.required("Gemeentenaam"),
        Rule("Perioden", "matches_file_name", "trim(Perioden) <> '${year}JJ00'"),
        *[rule for column in COUNTS for rule in ingest.number_in_range(column, 0)],
        *[rule for column, top in RELATIVE.items() for rule in ingest.number_in_range(column, 0, top)],
    ],
    typed={
        "wijkenenbuurten": "trim(WijkenEnBuurten)",
        "gemeentenaam": "trim(Gemeentenaam)",
        "soortregio": "trim(SoortRegio)",
        "perioden": "trim(Perioden)",
        **{column.lower(): f"num({column})" for column in [*COUNTS, *RELATIVE]},
    },
    unique=["WijkenEnBuurten"],
)

SPEC = ingest.SourceSpec(
    source=SOURCE,
    table="cbs_wijk_zorg",
    asset_key=("raw", "cbs", "wijk_zorg"),
    file_pattern=FILE_PATTERN,
    file_hint="wijk_zorg_<year>.csv",
    period=lambda match: match["year"],
    contract=CONTRACT,
    read=ingest.delimited_reader(COLUMNS, normalise=strip_suffix),
    description="CBS jeugdhulp, Wmo clients and bijstand per gemeente and wijk per year, in `raw.cbs_wijk_zorg`.",
)
cbs_wijk_zorg = ingest.source_asset(SPEC)
