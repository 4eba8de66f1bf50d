"""Provider contracts (procurement, inkoop): tariffs per gemeente × provider × product, per year.

Delivered as `contracten_<year>.csv` in `contracten/`: `;`-separated, UTF-8, decimal comma for
the tariff, dates `dd-mm-yyyy`: `gemeentecode;jaar;domein;agb_code;aanbieder;productcategorie;
productcode;eenheid;tarief;ingangsdatum;einddatum`. Jeugd products use iJw categories
(`ref_ijw_productcategorie`), Wmo products iWmo categories (`ref_iwmo_productcategorie`);
providers have 8-digit AGB codes. einddatum may be empty for an open-ended contract.

Raw table `raw.gemeente_contracten`; period key: the year (the file covers every gemeente).
"""

import re

from dagster_project import ingest
from dagster_project.ingest import Rule

SOURCE = "contracten"
FILE_PATTERN = re.compile(r"^contracten_(?P<year>\d{4})\.csv$")
COLUMNS = [
    "gemeentecode",
    "jaar",
    "domein",
    "agb_code",
    "aanbieder",
    "productcategorie",
    "productcode",
    "eenheid",
    "tarief",
    "ingangsdatum",
    "einddatum",
]
IJW = ingest.code_list("ref_ijw_productcategorie", ingest.reference_codes("ref_ijw_productcategorie"))
IWMO = ingest.code_list("ref_iwmo_productcategorie", ingest.reference_codes("ref_iwmo_productcategorie"))

CONTRACT = ingest.SqlContract(
    columns=COLUMNS,
    rules=[
        *ingest.gemeente_rules(from_file=False),
        ingest.gemeente_valid_on("gemeentecode", "'${year}-01-01'"),
        Rule("jaar", "matches_file_name", "trim(jaar) <> '${year}'"),
        ingest.one_of("domein", ["jeugd", "wmo"]),
        ingest.matches("agb_code", ingest.AGB_CODE, "agb_code"),
        ingest.required("aanbieder"),
        Rule(
            "productcategorie",
            "known_productcategorie",
            f"case trim(domein) when 'jeugd' then trim(productcategorie) not in {IJW} "
            f"when 'wmo' then trim(productcategorie) not in {IWMO} end",
        ),
        ingest.required("productcode"),
        ingest.required("eenheid"),
        *ingest.dutch_amount("tarief"),
        ingest.dutch_date("ingangsdatum"),
        ingest.dutch_date("einddatum", optional=True),
        ingest.end_after_start("ingangsdatum", "einddatum"),
    ],
    typed=ingest.trimmed(
        COLUMNS,
        jaar="cast(trim(jaar) as integer)",
        tarief="nl_decimal(tarief)",
        ingangsdatum="nl_date(ingangsdatum)",
        einddatum="nl_date(einddatum)",
    ),
    unique=["gemeentecode", "domein", "agb_code", "productcode", "ingangsdatum"],
)

SPEC = ingest.SourceSpec(
    source=SOURCE,
    table="gemeente_contracten",
    asset_key=("raw", "gemeente", "contracten"),
    file_pattern=FILE_PATTERN,
    file_hint="contracten_<year>.csv",
    period=lambda match: match["year"],
    contract=CONTRACT,
    description=(
        "Provider contracts, one row per gemeente × domain × provider × product × start date, "
        "in `raw.gemeente_contracten`."
    ),
)
contracten = ingest.source_asset(SPEC)
