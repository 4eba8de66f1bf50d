"""What the three municipal monthly exports (Jeugd, Wmo, Participatie) share.

Each is one file per gemeente per month with persons in it: read with Arrow, checked by a SQL
contract, placed in a buurt through the postcode-6 table, pseudonymised (also in quarantine), and
written per `<GMcode>:<yyyy-mm>` period so one gemeente's delivery never replaces another's.
Nationally these are ~120,000 small files: they are parsed, checked, pseudonymised and written
many at a time (`ingest.PERSONS_TO_RAW` does in DuckDB what `pseudonymise_person` does in
pandas, and places each address in its buurt; quarantined rows are masked with
`pseudonymise_person`).
"""

import re

import dagster as dg

from dagster_project import ingest
from dagster_project.ingest.pseudonymise import pseudonymise_person


def monthly_export(
    name: str, file_pattern: re.Pattern, columns: list[str], contract: ingest.SqlContract, description: str
) -> tuple[ingest.SourceSpec, dg.AssetsDefinition]:
    """The spec and asset of `raw.gemeente_<name>`, fed by `var/landing/gemeente_<name>/<name>_<GM>_<month>.csv`."""
    spec = ingest.SourceSpec(
        source=f"gemeente_{name}",
        table=f"gemeente_{name}",
        asset_key=("raw", "gemeente", name),
        file_pattern=file_pattern,
        file_hint=f"{name}_<GMcode>_<yyyy-mm>.csv",
        read=ingest.delimited_reader(columns),
        validate=ingest.sql_validator(contract),
        period=lambda match: f"{match['gm']}:{match['month']}",
        mask=pseudonymise_person,
        personal=True,
        raw_sql=ingest.PERSONS_TO_RAW,
    )
    asset = ingest.source_asset(
        spec, group="gemeente", kinds={"duckdb", "csv"}, deps=[ingest.PC6_ASSET_KEY], description=description
    )
    return spec, asset
