"""Ingestion: delivered files become raw tables under a contract (see docs/architecture.md).

- `reading`: which landed files are complete; a delimited file's header and rows, or one message.
- `contract`: the rule language (SQL conditions) and the building blocks of contracts;
  `rules`: the rules several sources share (gemeente valid in the period, plausible dates).
- `checks`: every rule of many files checked in one DuckDB scan, with the reasons.
- `spec`: what a source declares (`SourceSpec`).
- `run`: one source's ingestion (`Run`): archive, raw table, ingestion log.
- `rejected`: what ingestion rejects, kept in the quarantine with why.
- `pseudonymise`, `persons`: no BSN, birth date or address passes ingestion.
- `assets`, `sensor`, `fetch`: the Dagster asset of a source, its landing sensor, the yearly fetch.

A source module imports this package and writes its contract with the names below.
"""

from dagster_project.ingest.assets import materialize_results, source_asset, source_assets
from dagster_project.ingest.checks import SqlValidator, apply_sql_contract, sql_validator
from dagster_project.ingest.contract import (
    AGB_CODE,
    BU_CODE,
    GM_CODE,
    SEEDS_DIR,
    WK_CODE,
    Rule,
    SqlContract,
    code_list,
    dutch_amount,
    dutch_date,
    end_after_start,
    gemeente_rules,
    known,
    matches,
    number_in_range,
    one_of,
    person_rules,
    reference_codes,
    required,
    same_gemeente,
    sql_in,
    text,
    trimmed,
)
from dagster_project.ingest.pandera_path import PanderaValidator, pandera_validator, read_delimited
from dagster_project.ingest.persons import PC6_ASSET_KEY, PC6_TABLE, PERSON_COLUMNS, PERSON_DERIVED, PERSONS_TO_RAW
from dagster_project.ingest.reading import (
    STATLINE_ROW_NUMBER,
    DelimitedReader,
    UnreadableFile,
    content_hash,
    delimited_reader,
    landed_files,
    read_delimited_arrow,
)
from dagster_project.ingest.rejected import quarantine
from dagster_project.ingest.rules import (
    area_in_gemeente_of_year,
    date_in_range,
    gemeente_valid_on,
    gemeenten,
    municipal_rules,
    valid_on,
    within_month,
)
from dagster_project.ingest.run import ensure_raw_table, ingest_file, ingest_files, ingest_source
from dagster_project.ingest.spec import LINEAGE, Batch, RawSql, RawStep, SourceSpec

__all__ = [
    "AGB_CODE",
    "BU_CODE",
    "GM_CODE",
    "LINEAGE",
    "PC6_ASSET_KEY",
    "PC6_TABLE",
    "PERSONS_TO_RAW",
    "PERSON_COLUMNS",
    "PERSON_DERIVED",
    "SEEDS_DIR",
    "STATLINE_ROW_NUMBER",
    "WK_CODE",
    "Batch",
    "DelimitedReader",
    "PanderaValidator",
    "RawSql",
    "RawStep",
    "Rule",
    "SourceSpec",
    "SqlContract",
    "SqlValidator",
    "UnreadableFile",
    "apply_sql_contract",
    "area_in_gemeente_of_year",
    "code_list",
    "content_hash",
    "date_in_range",
    "delimited_reader",
    "dutch_amount",
    "dutch_date",
    "end_after_start",
    "ensure_raw_table",
    "gemeente_rules",
    "gemeente_valid_on",
    "gemeenten",
    "ingest_file",
    "ingest_files",
    "ingest_source",
    "known",
    "landed_files",
    "matches",
    "materialize_results",
    "municipal_rules",
    "number_in_range",
    "one_of",
    "pandera_validator",
    "person_rules",
    "quarantine",
    "read_delimited",
    "read_delimited_arrow",
    "reference_codes",
    "required",
    "same_gemeente",
    "sql_in",
    "source_asset",
    "source_assets",
    "sql_validator",
    "text",
    "trimmed",
    "valid_on",
    "within_month",
]
