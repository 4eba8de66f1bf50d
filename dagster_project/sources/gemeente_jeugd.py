"""Municipal Jeugd trajectories: one file per gemeente per month, one row per active trajectory.

Delivered as `jeugd_<GMcode>_<yyyy-mm>.csv` in `gemeente_jeugd/`, in the format, with the persons
and the period key every municipal export has (`municipal`); volume, tarief and bedrag have a
decimal comma; einddatum, reden_beeindiging and doel_bereikt are filled on the last month's row
of a trajectory that ended. After a merger running trajectories keep their number. Product
categories are iJw codes (`ref_ijw_productcategorie`), providers have 8-digit AGB codes.
"""

import re

from dagster_project import ingest
from dagster_project.sources import municipal

SOURCE = "gemeente_jeugd"
FILE_PATTERN = re.compile(r"^jeugd_(?P<gm>GM\d{4})_(?P<month>\d{4}-(0[1-9]|1[0-2]))\.csv$")

COLUMNS = [
    "gemeentecode",
    "periode",
    "trajectnummer",
    "bsn",
    "geboortedatum",
    "geslacht",
    "postcode",
    "huisnummer",
    "verwijzer",
    "productcategorie",
    "productcode",
    "agb_code",
    "aanbieder",
    "startdatum",
    "einddatum",
    "reden_beeindiging",
    "doel_bereikt",
    "eenheid",
    "volume",
    "tarief",
    "bedrag",
]

CONTRACT = municipal.contract(
    "trajectnummer",
    COLUMNS,
    [
        ingest.matches("verwijzer", r"\d{2}", optional=True),
        ingest.known(
            "productcategorie", ingest.reference_codes("ref_ijw_productcategorie"), "ref_ijw_productcategorie"
        ),
        ingest.required("productcode"),
        ingest.matches("agb_code", ingest.AGB_CODE, "agb_code"),
        ingest.dutch_date("startdatum"),
        ingest.dutch_date("einddatum", optional=True),
        ingest.end_after_start("startdatum", "einddatum"),
        ingest.one_of("doel_bereikt", ["", "ja", "nee"]),
        ingest.required("eenheid"),
        *ingest.dutch_amount("volume"),
        *ingest.dutch_amount("tarief"),
        *ingest.dutch_amount("bedrag"),
    ],
    verwijzer="nullif(trim(verwijzer), '')",
    aanbieder="nullif(trim(aanbieder), '')",
    doel_bereikt="case trim(doel_bereikt) when 'ja' then true when 'nee' then false end",
    volume="nl_decimal(volume)",
    tarief="nl_decimal(tarief)",
    bedrag="nl_decimal(bedrag)",
)

SPEC, gemeente_jeugd = municipal.monthly_export(
    "jeugd",
    FILE_PATTERN,
    CONTRACT,
    (
        "Municipal Jeugd trajectories, one row per trajectory per gemeente-month, pseudonymised, "
        "in `raw.gemeente_jeugd`."
    ),
)
