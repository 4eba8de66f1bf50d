"""CBS Kerncijfers wijken en buurten (KWB): one file per year, one row per gemeente, wijk and buurt.

Delivered as StatLine's TypedDataSet CSV download, as CBS writes it: UTF-8 with a byte-order
mark, `;`-separated, every field quoted (numbers too), area codes padded right to ten characters
(`"GM0518    "`), names padded right, numbers padded left (`"  537833"`), a decimal point, and
`.` (padded, `"       ."`) where CBS keeps a value secret or has none; some topics are empty
(`""`). The header holds StatLine's keys, each with a numeric suffix that moves between years
(`JongerenMetJeugdzorgInNatura_87` in 2019, `_91` in 2024) and several topics share a name
(`Appartement_48` electricity, `Appartement_56` gas).

`kwb_keys.KWB_KEYS` states, per KWB year and StatLine table, the key of each topic MMR reads
(`docs/cbs_kwb.md` has the table). A file is read by its year's keys; a topic whose key is not there is taken
from the one column with the same name and another suffix (with a warning naming both), and a
topic the year does not have at all stays empty (null) for that year, with a warning naming the
topics: the models that use it degrade for that year, they do not stop. Years without a
verified key list are matched by name only. Every other column is accepted and ignored.

The raw layer names each topic by its key without the suffix, lower case (`aantalinwoners`), so
one raw table holds every year. KWB <year> uses the municipal division of 1 January of that year:
every area must lie in a gemeente of `ref_gemeenten` that existed then.
"""

import csv
import io
import logging
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa

from dagster_project import ingest
from dagster_project.ingest import Rule
from dagster_project.sources.kwb_keys import (
    COLUMNS,
    COUNTS,
    KEY_COLUMNS,
    KWB_KEYS,
    MEASURES,
    NUMERIC_COLUMNS,
    PERCENTAGES,
    REQUIRED,
    TEXT_COLUMNS,
    strip_suffix,
)

log = logging.getLogger("mmr.ingest")

SOURCE = "cbs_kwb"
FILE_PATTERN = re.compile(r"^kwb_(?P<year>\d{4})\.csv$")


def resolve(header: list[str], year: int | None, file_name: str) -> tuple[dict[str, str], list[str]]:
    """Delivered column → MMR topic for one file, and the topics the file does not have."""
    expected = KWB_KEYS.get(year, {}) if year else {}
    by_stem: dict[str, list[str]] = {}
    for column in header:
        by_stem.setdefault(strip_suffix(column), []).append(column)
    found, moved, missing = {}, [], []
    for name in COLUMNS:
        key = expected.get(name, name if name == "WijkenEnBuurten" else None)
        if key in header:
            found[key] = name
        elif len(by_stem.get(name, [])) == 1:
            found[by_stem[name][0]] = name
            if key:
                moved.append(f"{name} ({by_stem[name][0]}, not {key})")
        else:
            missing.append(name)
    if moved:
        log.warning("%s: topics under another key than KWB %s has: %s", file_name, year, ", ".join(moved))
    return found, missing


def read(path: Path) -> pa.Table:
    """One delivered KWB file as the contract's text columns plus `_row`; a topic the year does not
    have is an empty column (null in the raw layer), a missing required one rejects the file."""
    match = FILE_PATTERN.match(path.name)
    year = int(match["year"]) if match else None
    with path.open("rb") as handle:
        first = handle.readline().removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    delivered = [c.strip() for c in next(csv.reader(io.StringIO(first.strip("\r\n")), delimiter=";"), [])]
    found, missing = resolve(delivered, year, path.name)
    present = [name for name in COLUMNS if name not in missing]
    table = ingest.read_delimited_arrow(path, present or REQUIRED, ";", lambda c: found.get(c, c))
    lacking = [name for name in REQUIRED if name in missing]
    if lacking:
        raise ingest.UnreadableFile(f"{path.name}: missing columns {', '.join(lacking)}")
    if missing:
        log.warning("%s: KWB %s has no %s; these figures stay empty for the year", path.name, year, ", ".join(missing))
    for name in missing:
        table = table.append_column(name, pa.array([""] * table.num_rows, pa.string()))
    return table


def parse(path: Path) -> pd.DataFrame:
    """A delivered KWB file with MMR's topic names, codes trimmed and figures as numbers (null
    where secret or absent): what the raw layer holds of it, for checks and tests."""
    frame = read(path).to_pandas().set_index("_row")
    frame.index.name = "row"
    for column in KEY_COLUMNS + TEXT_COLUMNS:
        frame[column] = frame[column].str.strip()
    for column in NUMERIC_COLUMNS:
        frame[column] = pd.to_numeric(frame[column].str.strip().replace({".": None, "": None}), errors="coerce")
    return frame[COLUMNS]


CONTRACT = ingest.SqlContract(
    columns=COLUMNS,
    rules=[
        ingest.matches("WijkenEnBuurten", f"({ingest.GM_CODE}|{ingest.WK_CODE}|{ingest.BU_CODE})", "area_code"),
        Rule("Codering", "code_matches_codering", "trim(Codering) <> trim(WijkenEnBuurten)"),
        ingest.one_of("SoortRegio", ["Gemeente", "Wijk", "Buurt"]),
        Rule(
            "SoortRegio",
            "level_matches_code",
            "trim(SoortRegio) in ('Gemeente', 'Wijk', 'Buurt') and upper(substr(trim(SoortRegio), 1, 1)) <> "
            "case substr(trim(WijkenEnBuurten), 1, 2) when 'GM' then 'G' when 'WK' then 'W' else 'B' end",
        ),
        *ingest.area_in_gemeente_of_year("WijkenEnBuurten"),
        ingest.required("Gemeentenaam"),
        *[rule for column in [*COUNTS, *MEASURES] for rule in ingest.number_in_range(column, 0)],
        *[rule for column in PERCENTAGES for rule in ingest.number_in_range(column, 0, 100)],
    ],
    typed={
        "wijkenenbuurten": "trim(WijkenEnBuurten)",
        "gemeentenaam": "trim(Gemeentenaam)",
        "soortregio": "trim(SoortRegio)",
        "codering": "trim(Codering)",
        **{column.lower(): f"num({column})" for column in NUMERIC_COLUMNS},
        **{column.lower(): f"nullif(nullif(trim({column}), '.'), '')" for column in TEXT_COLUMNS},
    },
    unique=["WijkenEnBuurten"],
)

SPEC = ingest.SourceSpec(
    source=SOURCE,
    table="cbs_kwb",
    asset_key=("raw", "cbs", "kwb"),
    file_pattern=FILE_PATTERN,
    file_hint="kwb_<year>.csv",
    period=lambda match: match["year"],
    contract=CONTRACT,
    read=read,
    description="CBS Kerncijfers wijken en buurten, every delivered year, in `raw.cbs_kwb`.",
)


def ingest_file(path: Path, con, settings) -> dict:
    """One file, one batch: contract, quarantine, archive, raw table, ingestion log."""
    return ingest.ingest_file(SPEC, path, con, settings)


cbs_kwb = ingest.source_asset(SPEC)
