"""What the three municipal monthly exports (Jeugd, Wmo, Participatie) share.

Each is one file per gemeente per month, `<name>_<GMcode>_<yyyy-mm>.csv` in `gemeente_<name>/`,
`;`-separated, UTF-8, decimal comma for amounts (`1234,50`), dates `dd-mm-yyyy`, einddatum empty
while what it describes runs; einddatum and reden_beeindiging are filled on the last month's row
of one that ended. The gemeentecode is the code valid in that month (after a merger the new
gemeente delivers). Every row is a person: the BSN becomes `bsn_pseudoniem`, the address
`huishouden_pseudoniem`, `postcode4` and the `buurt_code`/`wijk_code` of the postcode-6 (from
`raw.cbs_pc6_gwb`, asset `raw/cbs/pc6_gwb`), the birth date `geboortejaar`; none of them is kept.

Period key: `<GMcode>:<yyyy-mm>`, so a gemeente's corrected month supersedes only that month of
that gemeente. Not partitioned: one run ingests every new delivery.

Nationally these are ~120,000 small files: they are parsed, checked, pseudonymised and written
many at a time (`ingest.PERSONS_TO_RAW` does in DuckDB what `pseudonymise_person` does in
pandas, and places each address in its buurt; quarantined rows are masked with
`pseudonymise_person`).
"""

import re

import dagster as dg

from dagster_project import ingest
from dagster_project.ingest import Rule
from dagster_project.ingest.pseudonymise import pseudonymise_person

#: How the columns every export has become raw columns, where that is not trimmed text (the
#: person columns pass as delivered to `ingest.PERSONS_TO_RAW`).
TYPED = {
    **{column: column for column in sorted(ingest.PERSON_COLUMNS)},
    "startdatum": "nl_date(startdatum)",
    "einddatum": "nl_date(einddatum)",
    "reden_beeindiging": "nullif(trim(reden_beeindiging), '')",
}


def contract(number: str, columns: list[str], rules: list[Rule], **typed: str) -> ingest.SqlContract:
    """The contract of an export whose rows are keyed by `number`: the rules of the file's gemeente
    and month and of the person first, then its own `rules`; columns not in `TYPED` or `typed` stay
    trimmed text."""
    return ingest.SqlContract(
        columns=columns,
        rules=[
            *ingest.gemeente_rules(),
            Rule("periode", "matches_file_name", "trim(periode) <> '${month}'"),
            ingest.required(number),
            *ingest.person_rules(),
            *ingest.municipal_rules(),
            *rules,
        ],
        typed=ingest.trimmed(columns, **{**TYPED, **typed}),
        unique=[number],
        sensitive=ingest.PERSON_COLUMNS,
        derived=ingest.PERSON_DERIVED,
    )


def monthly_export(
    name: str, file_pattern: re.Pattern, contract: ingest.SqlContract, description: str
) -> tuple[ingest.SourceSpec, dg.AssetsDefinition]:
    """The spec and asset of `raw.gemeente_<name>`, fed by `var/landing/gemeente_<name>/<name>_<GM>_<month>.csv`."""
    spec = ingest.SourceSpec(
        source=f"gemeente_{name}",
        table=f"gemeente_{name}",
        asset_key=("raw", "gemeente", name),
        file_pattern=file_pattern,
        file_hint=f"{name}_<GMcode>_<yyyy-mm>.csv",
        period=lambda match: f"{match['gm']}:{match['month']}",
        contract=contract,
        mask=pseudonymise_person,
        personal=True,
        raw_sql=ingest.PERSONS_TO_RAW,
        description=description,
    )
    return spec, ingest.source_asset(spec, deps=[ingest.PC6_ASSET_KEY])
