"""Municipal Jeugd trajectories: one file per gemeente per month, one row per active trajectory.

Delivered as `jeugd_<GMcode>_<yyyy-mm>.csv` in `gemeente_jeugd/`: `;`-separated, UTF-8, decimal
comma for volume, tarief and bedrag (`1234,50`), dates `dd-mm-yyyy`, einddatum empty while the
trajectory runs; einddatum, reden_beeindiging and doel_bereikt are filled on the last month's row
of a trajectory that ended. The gemeentecode is the code valid in that month (after a merger the
new gemeente delivers, running trajectories keep their number). Persons carry a BSN and an address:
the BSN becomes `bsn_pseudoniem`, the address `huishouden_pseudoniem`, `postcode4` and the
`buurt_code`/`wijk_code` of the postcode-6 (from `raw.cbs_pc6_gwb`, asset `raw/cbs/pc6_gwb`), the
birth date `geboortejaar`; none of them is kept. Product categories are iJw codes
(`ref_ijw_productcategorie`), providers have 8-digit AGB codes.

Period key: `<GMcode>:<yyyy-mm>`, so a gemeente's corrected month supersedes only that month of
that gemeente. Not partitioned: one run ingests every new delivery.
"""

import re

import dagster as dg

from dagster_project import ingest
from dagster_project.ingest import Rule
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

CONTRACT = ingest.SqlContract(
    columns=COLUMNS,
    rules=[
        *ingest.gemeente_rules(),
        Rule("periode", "matches_file_name", "trim(periode) <> '${month}'"),
        ingest.required("trajectnummer"),
        *ingest.person_rules(),
        *ingest.municipal_rules(),
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
    typed={
        "gemeentecode": "trim(gemeentecode)",
        "periode": "trim(periode)",
        "trajectnummer": "trim(trajectnummer)",
        "bsn": "bsn",
        "geboortedatum": "geboortedatum",
        "geslacht": "trim(geslacht)",
        "postcode": "postcode",
        "huisnummer": "huisnummer",
        "verwijzer": "nullif(trim(verwijzer), '')",
        "productcategorie": "trim(productcategorie)",
        "productcode": "trim(productcode)",
        "agb_code": "trim(agb_code)",
        "aanbieder": "nullif(trim(aanbieder), '')",
        "startdatum": "nl_date(startdatum)",
        "einddatum": "nl_date(einddatum)",
        "reden_beeindiging": "nullif(trim(reden_beeindiging), '')",
        "doel_bereikt": "case trim(doel_bereikt) when 'ja' then true when 'nee' then false end",
        "eenheid": "trim(eenheid)",
        "volume": "nl_decimal(volume)",
        "tarief": "nl_decimal(tarief)",
        "bedrag": "nl_decimal(bedrag)",
    },
    unique=["trajectnummer"],
    sensitive=ingest.PERSON_COLUMNS,
    derived=ingest.PERSON_DERIVED,
)


SPEC, gemeente_jeugd = municipal.monthly_export(
    "jeugd",
    FILE_PATTERN,
    COLUMNS,
    CONTRACT,
    (
        "Municipal Jeugd trajectories, one row per trajectory per gemeente-month, pseudonymised, "
        "in `raw.gemeente_jeugd`."
    ),
)

defs = dg.Definitions(assets=[gemeente_jeugd])
