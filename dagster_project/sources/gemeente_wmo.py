"""Municipal Wmo provisions: one file per gemeente per month, one row per active provision.

Delivered as `wmo_<GMcode>_<yyyy-mm>.csv` in `gemeente_wmo/`, in the format, with the persons and
the period key every municipal export has (`municipal`); volume, tarief and bedrag have a decimal
comma. leveringsvorm is ZIN (in kind, with the provider's 8-digit AGB code) or PGB (personal
budget: the agb_code is empty). Product categories are iWmo codes (`ref_iwmo_productcategorie`).
"""

import re

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

CONTRACT = municipal.contract(
    "voorzieningnummer",
    COLUMNS,
    [
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
    agb_code="nullif(trim(agb_code), '')",
    aanbieder="nullif(trim(aanbieder), '')",
    volume="nl_decimal(volume)",
    tarief="nl_decimal(tarief)",
    bedrag="nl_decimal(bedrag)",
)

SPEC, gemeente_wmo = municipal.monthly_export(
    "wmo",
    FILE_PATTERN,
    CONTRACT,
    "Municipal Wmo provisions, one row per provision per gemeente-month, pseudonymised, in `raw.gemeente_wmo`.",
)
