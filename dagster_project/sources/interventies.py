"""The intervention register: one row per intervention started in a wijk.

Delivered as one file, `interventies.csv` in `interventies/`, that is replaced whole when the
register changes: `;`-separated, UTF-8, dates `dd-mm-yyyy`: `interventie_id;gemeentecode;wijkcode;
interventie_type;doelgroep;startdatum;einddatum`. Codes are those valid on the start date; the
wijk must lie in the gemeente (`WK` + the gemeente's four digits + two); einddatum is empty while
the intervention runs.

Raw table `raw.gemeente_interventies`; period key `register`: every delivery supersedes the
previous register as a whole.
"""

import re

from dagster_project import ingest

SOURCE = "interventies"
FILE_PATTERN = re.compile(r"^interventies\.csv$")
COLUMNS = ["interventie_id", "gemeentecode", "wijkcode", "interventie_type", "doelgroep", "startdatum", "einddatum"]

CONTRACT = ingest.SqlContract(
    columns=COLUMNS,
    rules=[
        ingest.required("interventie_id"),
        *ingest.gemeente_rules(from_file=False),
        ingest.matches("wijkcode", ingest.WK_CODE),
        ingest.same_gemeente("gemeentecode", "wijkcode"),
        ingest.required("interventie_type"),
        ingest.one_of("doelgroep", ["jeugd", "wmo", "participatie", "alle"]),
        ingest.dutch_date("startdatum"),
        ingest.dutch_date("einddatum", optional=True),
        ingest.end_after_start("startdatum", "einddatum"),
    ],
    typed=ingest.trimmed(COLUMNS, startdatum="nl_date(startdatum)", einddatum="nl_date(einddatum)"),
    unique=["interventie_id"],
)

SPEC = ingest.SourceSpec(
    source=SOURCE,
    table="gemeente_interventies",
    asset_key=("raw", "gemeente", "interventies"),
    file_pattern=FILE_PATTERN,
    file_hint="interventies.csv",
    period=lambda match: "register",
    contract=CONTRACT,
    description="The intervention register, one row per intervention in a wijk, in `raw.gemeente_interventies`.",
)
interventies = ingest.source_asset(SPEC)
