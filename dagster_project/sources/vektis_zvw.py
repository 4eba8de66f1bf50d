"""Vektis open data Zorgverzekeringswet (Zvw): insured persons and costs per area, sex and age.

Two files per year in `vektis_zvw/`, `;`-separated, decimal point, UTF-8, Vektis' upper-case
column names: `vektis_zvw_gemeente_<year>.csv` (the gemeente is identified only by its
upper-case name, the name valid in that year) and `vektis_zvw_postcode3_<year>.csv` (the first
three digits of the postcode). One row per area × GESLACHT (M/V) × LEEFTIJDSKLASSE (`0`, `5`,
… `85`, `90+`), with AANTAL_BSN, AANTAL_VERZEKERDEJAREN and one KOSTEN_ column per care
category in euros. The raw gemeente table adds `gemeentecode`: the code of the gemeente that
carried the name on 1 January of the year (`ref_gemeenten`); an unknown name is rejected
(`known_ref_gemeenten_naam`), and so is a name that did not exist on that day
(`gemeente_valid_in_period`), so no row reaches raw without its gemeentecode. Vektis' published
files use a later division than their year (the 2024 division in the 2022 file, per Vektis'
metadata): rows of gemeenten formed in between are quarantined with that rule, not kept without
a code, until the mapping knows each file's division.

Two raw tables, `raw.vektis_zvw_gemeente` and `raw.vektis_zvw_postcode3`; period key: the year.
"""

import re

import dagster as dg
import pandas as pd

from dagster_project import ingest
from dagster_project.ingest import Rule

SOURCE = "vektis_zvw"
AGE_CLASSES = [str(age) for age in range(0, 90, 5)] + ["90+"]
COSTS = [
    "KOSTEN_MEDISCH_SPECIALISTISCHE_ZORG",
    "KOSTEN_FARMACIE",
    "KOSTEN_HUISARTS_INSCHRIJFTARIEF",
    "KOSTEN_HUISARTS_CONSULT",
    "KOSTEN_HUISARTS_MDZ",
    "KOSTEN_HUISARTS_OVERIG",
    "KOSTEN_MONDZORG",
    "KOSTEN_PARAMEDISCHE_ZORG_FYSIOTHERAPIE",
    "KOSTEN_PARAMEDISCHE_ZORG_OVERIG",
    "KOSTEN_GENERALISTISCHE_BASIS_GGZ",
    "KOSTEN_GESPECIALISEERDE_GGZ",
    "KOSTEN_HULPMIDDELEN",
    "KOSTEN_ZIEKENVERVOER_ZITTEND",
    "KOSTEN_ZIEKENVERVOER_LIGGEND",
    "KOSTEN_KRAAMZORG",
    "KOSTEN_VERLOSKUNDIGE_ZORG",
    "KOSTEN_GRENSOVERSCHRIJDENDE_ZORG",
    "KOSTEN_GERIATRISCHE_REVALIDATIEZORG",
    "KOSTEN_VERPLEGING_EN_VERZORGING",
    "KOSTEN_EERSTELIJNS_VERBLIJF",
    "KOSTEN_OVERIG",
]
MEASURES = ["AANTAL_BSN", "AANTAL_VERZEKERDEJAREN", *COSTS]


def _contract(area: str, area_rules: list[Rule]) -> ingest.SqlContract:
    return ingest.SqlContract(
        columns=["JAAR", "GESLACHT", "LEEFTIJDSKLASSE", area, *MEASURES],
        rules=[
            Rule("JAAR", "matches_file_name", "trim(JAAR) <> '${year}'"),
            ingest.one_of("GESLACHT", ["M", "V"]),
            ingest.one_of("LEEFTIJDSKLASSE", AGE_CLASSES),
            *area_rules,
            *[rule for column in MEASURES for rule in ingest.number_in_range(column, 0, secret="")],
            *[ingest.required(column) for column in ["AANTAL_BSN", "AANTAL_VERZEKERDEJAREN"]],
        ],
        typed={
            "jaar": "cast(trim(JAAR) as integer)",
            "geslacht": "trim(GESLACHT)",
            "leeftijdsklasse": "trim(LEEFTIJDSKLASSE)",
            area.lower(): f"trim({area})",
            **{column.lower(): f"num({column})" for column in MEASURES},
        },
        unique=["GESLACHT", "LEEFTIJDSKLASSE", area],
    )


def _gemeente_names() -> pd.DataFrame:
    frame = pd.read_csv(ingest.SEEDS_DIR / "ref_gemeenten.csv", dtype=str, keep_default_na=False)
    return frame.assign(upper=frame["name"].str.upper())


GEMEENTE_CONTRACT = _contract(
    "GEMEENTENAAM",
    [
        ingest.known("GEMEENTENAAM", set(_gemeente_names()["upper"]), "ref_gemeenten_naam"),
        ingest.gemeente_valid_on("GEMEENTENAAM", "'${year}-01-01'", by="upper"),
    ],
)
POSTCODE3_CONTRACT = _contract("POSTCODE_3", [ingest.matches("POSTCODE_3", r"\d{3}", "postcode3_format")])


def with_gemeentecode(accepted: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """Add the code of the gemeente that carried the name on 1 January of the year."""
    names = _gemeente_names()
    raw = accepted.copy()
    codes = pd.Series(pd.NA, index=raw.index, dtype=object)
    for year in raw["jaar"].unique():
        first = f"{int(year)}-01-01"
        valid = names[
            ((names["valid_from"] == "") | (names["valid_from"] <= first))
            & ((names["valid_to"] == "") | (names["valid_to"] > first))
        ]
        lookup = dict(zip(valid["upper"], valid["code"], strict=True))
        rows = raw["jaar"] == year
        codes[rows] = raw.loc[rows, "gemeentenaam"].map(lookup)
    raw.insert(raw.columns.get_loc("gemeentenaam") + 1, "gemeentecode", codes)
    return raw


def _spec(table: str, contract: ingest.SqlContract, to_raw=None) -> ingest.SourceSpec:
    return ingest.SourceSpec(
        source=SOURCE,
        table=f"vektis_zvw_{table}",
        asset_key=("raw", "vektis", f"zvw_{table}"),
        file_pattern=re.compile(rf"^vektis_zvw_{table}_(?P<year>\d{{4}})\.csv$"),
        file_hint=f"vektis_zvw_{table}_<year>.csv",
        read=ingest.delimited_reader(contract.columns),
        validate=ingest.sql_validator(contract),
        period=lambda match: match["year"],
        **({"to_raw": to_raw} if to_raw else {}),
    )


GEMEENTE_SPEC = _spec("gemeente", GEMEENTE_CONTRACT, with_gemeentecode)
POSTCODE3_SPEC = _spec("postcode3", POSTCODE3_CONTRACT)
SPECS = [GEMEENTE_SPEC, POSTCODE3_SPEC]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            list(GEMEENTE_SPEC.asset_key),
            group_name="vektis",
            kinds={"duckdb", "csv"},
            description="Vektis Zvw insured persons and costs per gemeente × sex × age class per year.",
        ),
        dg.AssetSpec(
            list(POSTCODE3_SPEC.asset_key),
            group_name="vektis",
            kinds={"duckdb", "csv"},
            description="Vektis Zvw insured persons and costs per postcode-3 area × sex × age class per year.",
        ),
    ],
)
def vektis_zvw(context: dg.AssetExecutionContext):
    """Vektis Zvw open data, every delivered year, in `raw.vektis_zvw_gemeente` and `raw.vektis_zvw_postcode3`."""
    from dagster_project.settings import get_settings

    stats = ingest.ingest_source(SPECS, get_settings(), context.log.info)
    yield from ingest.materialize_results(stats)


defs = dg.Definitions(assets=[vektis_zvw])
