"""CBS Kerncijfers wijken en buurten (KWB): one file per year, one row per gemeente, wijk and buurt.

Delivered as StatLine's typed-dataset CSV: `;`-separated, area codes space-padded to ten
characters, a lone `.` where CBS keeps a value secret, and column names that carry a numeric
suffix which changes from year to year (`AantalInwoners_5`). The raw layer drops the suffix and
lowercases the name, so one raw table holds every year. KWB <year> uses the municipal division of
1 January of that year: every area must lie in a gemeente of `ref_gemeenten` that existed then.
Columns the contract does not know are ignored (with a warning).
"""

import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from dagster_project import ingest

SOURCE = "cbs_kwb"
FILE_PATTERN = re.compile(r"^kwb_(?P<year>\d{4})\.csv$")
AREA_CODE = r"^(GM\d{4}|WK\d{6}|BU\d{8})$"

KEY_COLUMNS = ["WijkenEnBuurten", "Gemeentenaam", "SoortRegio", "Codering"]
NUMERIC_COLUMNS = [
    "AantalInwoners",
    "Mannen",
    "Vrouwen",
    "k_0Tot15Jaar",
    "k_15Tot25Jaar",
    "k_25Tot45Jaar",
    "k_45Tot65Jaar",
    "k_65JaarOfOuder",
    "HuishoudensTotaal",
    "Eenpersoonshuishoudens",
    "HuishoudensZonderKinderen",
    "HuishoudensMetKinderen",
    "GemiddeldeHuishoudensgrootte",
    "Bevolkingsdichtheid",
    "Eenouderhuishoudens",
    "GemiddeldInkomenPerInwoner",
    "HuishoudensMetEenLaagInkomen",
    "PersonenPerSoortUitkeringBijstand",
    "PersonenPerSoortUitkeringAO",
    "PersonenPerSoortUitkeringWW",
    "PersonenPerSoortUitkeringAOW",
    "JongerenMetJeugdzorgInNatura",
    "WmoClienten",
]
TEXT_COLUMNS = ["MeestVoorkomendePostcode", "Dekkingspercentage"]
KNOWN_COLUMNS = ["ID", "IndelingswijzigingWijkenEnBuurten", *KEY_COLUMNS, *NUMERIC_COLUMNS, *TEXT_COLUMNS]


def strip_suffix(column: str) -> str:
    """`AantalInwoners_5` → `AantalInwoners`; `k_0Tot15Jaar_8` → `k_0Tot15Jaar`."""
    return re.sub(r"_\d+$", "", column)


def _cbs_number(value: pd.Series) -> pd.Series:
    return pd.to_numeric(value.str.strip().replace({".": None, "": None}), errors="coerce").astype("float64")


CONTRACT = pa.DataFrameSchema(
    {
        "WijkenEnBuurten": pa.Column(str, pa.Check.str_matches(AREA_CODE)),
        "Codering": pa.Column(str, pa.Check.str_matches(AREA_CODE)),
        "SoortRegio": pa.Column(str, pa.Check.isin(["Gemeente", "Wijk", "Buurt"])),
        "Gemeentenaam": pa.Column(str, pa.Check.str_length(min_value=1)),
        **{name: pa.Column(float, pa.Check.ge(0), nullable=True, required=False) for name in NUMERIC_COLUMNS},
        "AantalInwoners": pa.Column(float, pa.Check.ge(0), nullable=True),
        "HuishoudensMetEenLaagInkomen": pa.Column(float, pa.Check.in_range(0, 100), nullable=True),
    },
    checks=pa.Check(lambda df: df["WijkenEnBuurten"] == df["Codering"], name="code_matches_codering"),
    unique=["WijkenEnBuurten"],
    strict=False,
)


def parse(path: Path) -> pd.DataFrame:
    """Read one delivered KWB file into typed columns without the yearly numeric suffix."""
    frame = ingest.read_delimited(path, KEY_COLUMNS + ["AantalInwoners"], normalise=strip_suffix)
    ingest.ignored_columns(path, KNOWN_COLUMNS, normalise=strip_suffix)
    frame = frame[[c for c in frame.columns if c in KNOWN_COLUMNS]]
    for column in KEY_COLUMNS + TEXT_COLUMNS:
        if column in frame:
            frame[column] = frame[column].str.strip()
    for column in NUMERIC_COLUMNS:
        if column in frame:
            frame[column] = _cbs_number(frame[column])
    return frame


def _gemeente(codes: pd.Series) -> pd.Series:
    return "GM" + codes.str[2:6]


def contract_for(year: str | None) -> pa.DataFrameSchema:
    """The contract with the gemeente checks of the delivered year: every code lies in a gemeente
    of `ref_gemeenten` that existed on 1 January of the year (KWB uses that day's division)."""
    known = set(ingest.gemeenten()["code"])
    existing = set(ingest.valid_on(f"{year}-01-01")["code"]) if year else known
    checks = [
        pa.Check(lambda s: _gemeente(s).isin(known), name="known_ref_gemeenten"),
        pa.Check(lambda s: ~_gemeente(s).isin(known) | _gemeente(s).isin(existing), name="gemeente_valid_in_period"),
    ]
    column = CONTRACT.columns["WijkenEnBuurten"]
    return CONTRACT.update_column("WijkenEnBuurten", checks=[*column.checks, *checks])


validate = ingest.pandera_validator(CONTRACT, lambda groups: contract_for(groups.get("year")))


def to_raw(accepted: pd.DataFrame, key: bytes) -> pd.DataFrame:
    raw = accepted.drop(columns=[c for c in ("ID",) if c in accepted]).copy()
    raw.columns = [c.lower() for c in raw.columns]
    return raw


SPEC = ingest.SourceSpec(
    source=SOURCE,
    table="cbs_kwb",
    asset_key=("raw", "cbs", "kwb"),
    file_pattern=FILE_PATTERN,
    file_hint="kwb_<year>.csv",
    read=parse,
    validate=validate,
    period=lambda match: match["year"],
    to_raw=to_raw,
)


def ingest_file(path: Path, con, settings) -> dict:
    """One file, one batch: contract, quarantine, archive, raw table, ingestion log."""
    return ingest.ingest_file(SPEC, path, con, settings)


cbs_kwb = ingest.source_asset(
    SPEC,
    group="cbs",
    kinds={"duckdb", "csv"},
    description="CBS Kerncijfers wijken en buurten, every delivered year, in `raw.cbs_kwb`.",
)

defs = dg.Definitions(assets=[cbs_kwb])
