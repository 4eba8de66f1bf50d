"""Client-experience survey (cliëntervaringsonderzoek, CEO) for Jeugd and Wmo: one file per
gemeente per year.

Delivered as `clientervaring_<GMcode>_<year>.csv` in `clientervaring/`: `;`-separated, UTF-8,
one row per respondent × question: `jaar;gemeentecode;domein;respondent_id;trajectnummer;
agb_code;vraag_code;vraag_tekst;antwoord`. `antwoord` is 1 (helemaal oneens) .. 5 (helemaal
eens); `respondent_id` is already a pseudokey of the survey bureau (no BSN in this file);
`trajectnummer` is the Jeugd trajectory or Wmo provision number of the municipal export, so
answers link to care without a person identifier. Question codes start with J (Jeugd) or W (Wmo).

Raw table `raw.gemeente_clientervaring`; period key `<GMcode>:<year>`, so one gemeente's
corrected survey never replaces another's.
"""

import re

from dagster_project import ingest
from dagster_project.ingest import Rule

SOURCE = "clientervaring"
FILE_PATTERN = re.compile(r"^clientervaring_(?P<gm>GM\d{4})_(?P<year>\d{4})\.csv$")
COLUMNS = [
    "jaar",
    "gemeentecode",
    "domein",
    "respondent_id",
    "trajectnummer",
    "agb_code",
    "vraag_code",
    "vraag_tekst",
    "antwoord",
]

CONTRACT = ingest.SqlContract(
    columns=COLUMNS,
    rules=[
        Rule("jaar", "matches_file_name", "trim(jaar) <> '${year}'"),
        *ingest.gemeente_rules(),
        ingest.gemeente_valid_on("gemeentecode", "'${year}-01-01'"),
        ingest.one_of("domein", ["jeugd", "wmo"]),
        ingest.required("respondent_id"),
        ingest.required("trajectnummer"),
        ingest.matches("agb_code", ingest.AGB_CODE, "agb_code", optional=True),
        ingest.matches("vraag_code", r"[JW]\d{2}", "vraag_code_format"),
        Rule(
            "vraag_code",
            "vraag_matches_domein",
            "left(trim(vraag_code), 1) <> case trim(domein) when 'jeugd' then 'J' else 'W' end",
        ),
        ingest.one_of("antwoord", ["1", "2", "3", "4", "5"], "answer_1_to_5"),
    ],
    typed=ingest.trimmed(
        COLUMNS,
        jaar="cast(trim(jaar) as integer)",
        agb_code="nullif(trim(agb_code), '')",
        antwoord="cast(trim(antwoord) as integer)",
    ),
    unique=["respondent_id", "vraag_code"],
)

SPEC = ingest.SourceSpec(
    source=SOURCE,
    table="gemeente_clientervaring",
    asset_key=("raw", "gemeente", "clientervaring"),
    file_pattern=FILE_PATTERN,
    file_hint="clientervaring_<GMcode>_<year>.csv",
    period=lambda match: f"{match['gm']}:{match['year']}",
    contract=CONTRACT,
    description=(
        "Client-experience survey answers, one row per respondent per question per gemeente-year, "
        "in `raw.gemeente_clientervaring`."
    ),
)
clientervaring = ingest.source_asset(SPEC)
