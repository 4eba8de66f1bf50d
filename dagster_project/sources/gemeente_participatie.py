"""Municipal Participatie benefits: one file per gemeente per month, one row per benefit paid.

Delivered as `participatie_<GMcode>_<yyyy-mm>.csv` in `gemeente_participatie/`, in the format,
with the persons and the period key every municipal export has (`municipal`); bedrag_uitkering
has a decimal comma (`1234,57`). regeling is the law (Participatiewet, IOAW, IOAZ, Bbz), leefvorm
the household type the norm amount depends on.
"""

import re

from dagster_project import ingest
from dagster_project.sources import municipal

SOURCE = "gemeente_participatie"
FILE_PATTERN = re.compile(r"^participatie_(?P<gm>GM\d{4})_(?P<month>\d{4}-(0[1-9]|1[0-2]))\.csv$")
REGELINGEN = ["Participatiewet", "IOAW", "IOAZ", "Bbz"]
LEEFVORMEN = ["alleenstaande", "alleenstaande ouder", "gehuwden"]

COLUMNS = [
    "gemeentecode",
    "periode",
    "uitkeringsnummer",
    "bsn",
    "geboortedatum",
    "geslacht",
    "postcode",
    "huisnummer",
    "regeling",
    "leefvorm",
    "startdatum",
    "einddatum",
    "reden_beeindiging",
    "bedrag_uitkering",
]

CONTRACT = municipal.contract(
    "uitkeringsnummer",
    COLUMNS,
    [
        ingest.one_of("regeling", REGELINGEN),
        ingest.one_of("leefvorm", LEEFVORMEN),
        ingest.dutch_date("startdatum"),
        ingest.dutch_date("einddatum", optional=True),
        ingest.end_after_start("startdatum", "einddatum"),
        *ingest.dutch_amount("bedrag_uitkering"),
    ],
    bedrag_uitkering="nl_decimal(bedrag_uitkering)",
)

SPEC, gemeente_participatie = municipal.monthly_export(
    "participatie",
    FILE_PATTERN,
    CONTRACT,
    (
        "Municipal Participatie benefits, one row per benefit per gemeente-month, pseudonymised, "
        "in `raw.gemeente_participatie`."
    ),
)
