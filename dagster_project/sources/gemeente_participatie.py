"""Municipal Participatie benefits: one file per gemeente per month, one row per benefit paid.

Delivered as `participatie_<GMcode>_<yyyy-mm>.csv` in `gemeente_participatie/`: `;`-separated,
UTF-8, decimal comma for bedrag_uitkering (`1234,57`), dates `dd-mm-yyyy`, einddatum empty while
the benefit runs; einddatum and reden_beeindiging are filled on the last month's row of a benefit
that ended. regeling is the law (Participatiewet, IOAW, IOAZ, Bbz), leefvorm the household type
the norm amount depends on. The gemeentecode is the code valid in that month. The BSN becomes
`bsn_pseudoniem`, the address `huishouden_pseudoniem`, `postcode4` and the `buurt_code`/`wijk_code`
of the postcode-6 (from `raw.cbs_pc6_gwb`, asset `raw/cbs/pc6_gwb`), the birth date
`geboortejaar`; none of them is kept.

Period key: `<GMcode>:<yyyy-mm>`, so a gemeente's corrected month supersedes only that month of
that gemeente. Not partitioned: one run ingests every new delivery.
"""

import re

import dagster as dg

from dagster_project import ingest
from dagster_project.ingest import Rule
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

CONTRACT = ingest.SqlContract(
    columns=COLUMNS,
    rules=[
        *ingest.gemeente_rules(),
        Rule("periode", "matches_file_name", "trim(periode) <> '${month}'"),
        ingest.required("uitkeringsnummer"),
        *ingest.person_rules(),
        *ingest.municipal_rules(),
        ingest.one_of("regeling", REGELINGEN),
        ingest.one_of("leefvorm", LEEFVORMEN),
        ingest.dutch_date("startdatum"),
        ingest.dutch_date("einddatum", optional=True),
        ingest.end_after_start("startdatum", "einddatum"),
        *ingest.dutch_amount("bedrag_uitkering"),
    ],
    typed={
        "gemeentecode": "trim(gemeentecode)",
        "periode": "trim(periode)",
        "uitkeringsnummer": "trim(uitkeringsnummer)",
        "bsn": "bsn",
        "geboortedatum": "geboortedatum",
        "geslacht": "trim(geslacht)",
        "postcode": "postcode",
        "huisnummer": "huisnummer",
        "regeling": "trim(regeling)",
        "leefvorm": "trim(leefvorm)",
        "startdatum": "nl_date(startdatum)",
        "einddatum": "nl_date(einddatum)",
        "reden_beeindiging": "nullif(trim(reden_beeindiging), '')",
        "bedrag_uitkering": "nl_decimal(bedrag_uitkering)",
    },
    unique=["uitkeringsnummer"],
    sensitive=ingest.PERSON_COLUMNS,
    derived=ingest.PERSON_DERIVED,
)

SPEC, gemeente_participatie = municipal.monthly_export(
    "participatie",
    FILE_PATTERN,
    COLUMNS,
    CONTRACT,
    (
        "Municipal Participatie benefits, one row per benefit per gemeente-month, pseudonymised, "
        "in `raw.gemeente_participatie`."
    ),
)

defs = dg.Definitions(assets=[gemeente_participatie])
