"""Vektis open data Zorgverzekeringswet (Zvw): insured persons and costs per area, sex and age.

Two files per year in `vektis_zvw/`: `vektis_zvw_gemeente_<year>.csv` (the gemeente is identified
only by its upper-case name) and `vektis_zvw_postcode3_<year>.csv` (the first three digits of the
postcode). The file is read as Vektis publishes it, in the layout of its year (`vektis_layout`:
2015 upper case without `JAAR`, 2020 lower case, 2023 names cut at 32 characters and the GGZ
categories of the new funding model), `;` or `,`, decimal point or comma, UTF-8 or Windows-1252.
One row per area × GESLACHT (M/V) × LEEFTIJDSKLASSE, with AANTAL_BSN, AANTAL_VERZEKERDEJAREN and
one KOSTEN_ column per care category in euros; unknown categories count in
KOSTEN_ONBEKENDE_CATEGORIE with a warning.

The raw gemeente table adds `gemeentecode`. Vektis writes each year's file in a later municipal
division than the year (the 2022 file already knows Voorne aan Zee), so a name is looked up in
`ref_gemeenten` as the gemeente that carried it on 1 January of the year, or else as the
gemeente formed later under that name. An unknown name is quarantined (`known_ref_gemeenten_naam`),
and so is a name that had disappeared before the year began (`gemeente_valid_in_period`): no row
reaches raw without its gemeentecode. A national file keeps every gemeente of the country: they
are the benchmark of the region (see `fct_zvw_cost`).

Two raw tables, `raw.vektis_zvw_gemeente` and `raw.vektis_zvw_postcode3`; period key: the year.
"""

import io
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa

from dagster_project import ingest
from dagster_project.ingest import Rule, UnreadableFile
from dagster_project.sources import vektis_layout

SOURCE = "vektis_zvw"
AGE_CLASSES = vektis_layout.AGE_CLASSES
COSTS = vektis_layout.COSTS
MEASURES = vektis_layout.MEASURES
FILE_PATTERN = r"^vektis_zvw_{table}_(?P<year>\d{{4}})\.csv$"


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


def not_ended_before(column: str, day_sql: str) -> Rule:
    """The upper-case name is that of a gemeente that still existed on `day_sql` or was formed
    after it (Vektis' later division); a name that had disappeared by then fails. A name not in the
    code list at all is left to the `known_*` rule, so it gets one reason."""
    frame = ingest.gemeenten()
    codes = ingest.code_list("ref_gemeenten_einde_upper", frame["upper"] + "|" + frame["valid_to"])
    value = f"trim({column})"
    fails = (
        f"exists (select 1 from {codes} as ref where split_part(ref.code, '|', 1) = {value}) "
        f"and not exists (select 1 from {codes} as ref where split_part(ref.code, '|', 1) = {value} "
        f"and (split_part(ref.code, '|', 2) = '' or split_part(ref.code, '|', 2) > {day_sql}))"
    )
    return Rule(column, "gemeente_valid_in_period", fails)


GEMEENTE_CONTRACT = _contract(
    "GEMEENTENAAM",
    [
        ingest.known("GEMEENTENAAM", set(ingest.gemeenten()["upper"]), "ref_gemeenten_naam"),
        not_ended_before("GEMEENTENAAM", "'${year}-01-01'"),
    ],
)
POSTCODE3_CONTRACT = _contract("POSTCODE_3", [ingest.matches("POSTCODE_3", r"\d{3}", "postcode3_format")])


def gemeente_codes(year: int) -> dict[str, str]:
    """Upper-case name → code for a file of `year`: the gemeente that carried the name on 1 January,
    else the earliest gemeente formed later under that name."""
    first = f"{int(year)}-01-01"
    names = ingest.gemeenten()
    alive = names[(names["valid_to"] == "") | (names["valid_to"] > first)]
    later = alive[alive["valid_from"] > first].sort_values("valid_from")
    lookup = dict(zip(later["upper"][::-1], later["code"][::-1], strict=True))
    lookup.update(zip(ingest.valid_on(first)["upper"], ingest.valid_on(first)["code"], strict=True))
    return lookup


def with_gemeentecode(accepted: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """Add the code of the gemeente the name stands for in the file's year (see `gemeente_codes`)."""
    raw = accepted.copy()
    codes = pd.Series(pd.NA, index=raw.index, dtype=object)
    for year in raw["jaar"].unique():
        rows = raw["jaar"] == year
        codes[rows] = raw.loc[rows, "gemeentenaam"].map(gemeente_codes(int(year)))
    raw.insert(raw.columns.get_loc("gemeentenaam") + 1, "gemeentecode", codes)
    return raw


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def read_published(raw: bytes, year: int | str | None, origin: str, area: str) -> pd.DataFrame:
    """The rows of a Vektis file in any published layout, in the delivered shape; UnreadableFile
    names what is wrong with a file that cannot be read."""
    text = _decode(raw)
    if not text.strip():
        raise UnreadableFile(f"{origin}: the file is empty")
    first = text.lstrip("\ufeff").splitlines()[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, on_bad_lines="error")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise UnreadableFile(f"{origin}: malformed or truncated ({type(exc).__name__})") from None
    frame = vektis_layout.normalise(frame, year, origin)
    required = ["GESLACHT", "LEEFTIJDSKLASSE", area, "AANTAL_BSN", "AANTAL_VERZEKERDEJAREN"]
    missing = [c for c in required if c not in frame]
    if missing:
        raise UnreadableFile(f"{origin}: missing columns {', '.join(missing)}")
    if frame.empty:
        raise UnreadableFile(f"{origin}: the file has a header but no rows")
    return frame


def reader(area: str):
    """`read` of a Vektis spec: the published layout of the file's year, as text columns plus `_row`."""

    def read(path: Path) -> pa.Table:
        match = re.search(r"_(\d{4})\.csv$", path.name)
        frame = read_published(path.read_bytes(), match.group(1) if match else None, path.name, area)
        table = pa.Table.from_pandas(frame.astype(str), preserve_index=False)
        return table.append_column("_row", pa.array(range(2, len(frame) + 2), pa.int64()))

    return read


def _spec(table: str, contract: ingest.SqlContract, area: str, description: str, **to_raw) -> ingest.SourceSpec:
    return ingest.SourceSpec(
        source=SOURCE,
        table=f"vektis_zvw_{table}",
        asset_key=("raw", "vektis", f"zvw_{table}"),
        file_pattern=re.compile(FILE_PATTERN.format(table=table)),
        file_hint=f"vektis_zvw_{table}_<year>.csv",
        period=lambda match: match["year"],
        contract=contract,
        read=reader(area),
        description=description,
        **to_raw,
    )


GEMEENTE_SPEC = _spec(
    "gemeente",
    GEMEENTE_CONTRACT,
    "GEMEENTENAAM",
    "Vektis Zvw insured persons and costs per gemeente × sex × age class per year.",
    to_raw=with_gemeentecode,
)
POSTCODE3_SPEC = _spec(
    "postcode3",
    POSTCODE3_CONTRACT,
    "POSTCODE_3",
    "Vektis Zvw insured persons and costs per postcode-3 area × sex × age class per year.",
)
SPECS = [GEMEENTE_SPEC, POSTCODE3_SPEC]


vektis_zvw = ingest.source_assets(
    "vektis_zvw",
    SPECS,
    "Vektis Zvw open data, every delivered year, in `raw.vektis_zvw_gemeente` and `raw.vektis_zvw_postcode3`.",
)
