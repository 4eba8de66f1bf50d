"""Municipal Wmo provisions: one file per gemeente per month, one row per active provision.

Delivered as `wmo_<GMcode>_<yyyy-mm>.csv` in `gemeente_wmo/`: `;`-separated, UTF-8, decimal
comma for volume, tarief and bedrag (`1234,50`), dates `dd-mm-yyyy`, einddatum empty while the
provision runs; einddatum and reden_beeindiging are filled on the last month's row of a provision
that ended. leveringsvorm is ZIN (in kind, with the provider's 8-digit AGB code) or PGB (personal
budget: the agb_code is empty). The gemeentecode is the code valid in that month. The BSN
becomes `bsn_pseudoniem`, the address `huishouden_pseudoniem`, `postcode4` and the `buurt_code`/
`wijk_code` of the postcode-6 (from `raw.cbs_pc6_gwb`, asset `raw/cbs/pc6_gwb`), the birth date
`geboortejaar`; none of them is kept. Product categories are iWmo codes
(`ref_iwmo_productcategorie`).

Period key: `<GMcode>:<yyyy-mm>`, so a gemeente's corrected month supersedes only that month of
that gemeente. Not partitioned: one run ingests every new delivery.
"""

import re

import dagster as dg

from dagster_project import ingest
from dagster_project.ingest import Rule
from dagster_project.sources import municipal

SOURCE = "gemeente_wmo"
FILE_PATTERN = re.compile(r"^wmo_(?P<gm>GM\d{4})_(?P<month>\d{4}-(0[1-9]|1[0-2]))\.csv$")

COLUMNS = [
    "gemeentecode",
    "periode",
    "voorzieningnummer",
    "bsn",
    "geboortedatum",
    "geslacht",
    "postcode",
    "huisnummer",
    "productcategorie",
    "productcode",
    "leveringsvorm",
    "agb_code",
    "aanbieder",
    "startdatum",
    "einddatum",
    "reden_beeindiging",
    "eenheid",
    "volume",
    "tarief",
    "bedrag",
]

CONTRACT = ingest.SqlContract(
    columns=COLUMNS,
    rules=[
        *ingest.gemeente_rules(),
        Rule("periode", "matches_file_name", "trim(periode) <> '${month}'"),
        ingest.required("voorzieningnummer"),
        *ingest.person_rules(),
        *ingest.municipal_rules(),
        ingest.known(
            "productcategorie", ingest.reference_codes("ref_iwmo_productcategorie"), "ref_iwmo_productcategorie"
        ),
        ingest.required("productcode"),
        ingest.one_of("leveringsvorm", ["ZIN", "PGB"]),
        ingest.matches("agb_code", ingest.AGB_CODE, "agb_code", optional=True),
        Rule("agb_code", "agb_code_for_zin", "trim(leveringsvorm) = 'ZIN' and trim(agb_code) = ''"),
        ingest.dutch_date("startdatum"),
        ingest.dutch_date("einddatum", optional=True),
        ingest.end_after_start("startdatum", "einddatum"),
        ingest.required("eenheid"),
        *ingest.dutch_amount("volume"),
        *ingest.dutch_amount("tarief"),
        *ingest.dutch_amount("bedrag"),
    ],
    typed={
        "gemeentecode": "trim(gemeentecode)",
        "periode": "trim(periode)",
        "voorzieningnummer": "trim(voorzieningnummer)",
        "bsn": "bsn",
        "geboortedatum": "geboortedatum",
        "geslacht": "trim(geslacht)",
        "postcode": "postcode",
        "huisnummer": "huisnummer",
        "productcategorie": "trim(productcategorie)",
        "productcode": "trim(productcode)",
        "leveringsvorm": "trim(leveringsvorm)",
        "agb_code": "nullif(trim(agb_code), '')",
        "aanbieder": "nullif(trim(aanbieder), '')",
        "startdatum": "nl_date(startdatum)",
        "einddatum": "nl_date(einddatum)",
        "reden_beeindiging": "nullif(trim(reden_beeindiging), '')",
        "eenheid": "trim(eenheid)",
        "volume": "nl_decimal(volume)",
        "tarief": "nl_decimal(tarief)",
        "bedrag": "nl_decimal(bedrag)",
    },
    unique=["voorzieningnummer"],
    sensitive=ingest.PERSON_COLUMNS,
    derived=ingest.PERSON_DERIVED,
)


SPEC, gemeente_wmo = municipal.monthly_export(
    "wmo",
    FILE_PATTERN,
    COLUMNS,
    CONTRACT,
    "Municipal Wmo provisions, one row per provision per gemeente-month, pseudonymised, in `raw.gemeente_wmo`.",
)

defs = dg.Definitions(assets=[gemeente_wmo])
