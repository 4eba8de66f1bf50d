"""The layouts Vektis really publishes its Zvw open data in, mapped onto one delivered shape.

Vektis changes the file from year to year (see the fixtures README under `tests/fixtures/vektis/`):

- 2015: upper-case names (`KOSTEN_SPECIALISTISCHE_GGZ`, `KOSTEN_LANGDURIGE_GGZ`,
  `KOSTEN_EERSTELIJNS_ONDERSTEUNING`, ...), no `JAAR` column, every gemeente of the country;
- 2020: lower-case names, written in full (`kosten_medisch_specialistische_zorg` … `kosten_overig`);
- 2023: lower-case names cut at 32 characters (`kosten_medisch_specialistische_z`), age classes
  written `5 t/m  9 jaar` (two spaces), the GGZ categories of the new funding model
  (`kosten_consulten_ggz`, `kosten_intramuraal_verblijf_ggz`, `kosten_overige_prestaties_ggz`),
  upper-case gemeente names of a later municipal division than the year.

`normalise` gives every layout the same columns: `JAAR` (from the file's year when absent),
`GESLACHT`, `LEEFTIJDSKLASSE` (`0`, `5`, … `85`, `90+`), the area column, `AANTAL_BSN`,
`AANTAL_VERZEKERDEJAREN` and one `KOSTEN_<category>` column per category of `CATEGORIES` (empty,
i.e. unknown, where the year has no such category). A cut name is completed when exactly one
known category starts with it. A `kosten_` column that names no known category is not dropped:
its amounts are added up in `KOSTEN_ONBEKENDE_CATEGORIE`, so the Zvw total stays whole, and a
warning names the file and the columns.
"""

import logging

import pandas as pd

log = logging.getLogger("mmr.ingest")

#: Every cost category of the real files 2015-2023, in the order the files list them.
CATEGORIES = [
    "medisch_specialistische_zorg",
    "farmacie",
    "huisarts_inschrijftarief",
    "huisarts_consult",
    "huisarts_mdz",
    "huisarts_overig",
    "hulpmiddelen",
    "mondzorg",
    "paramedische_zorg_fysiotherapie",
    "paramedische_zorg_overig",
    "ziekenvervoer_zittend",
    "ziekenvervoer_liggend",
    "kraamzorg",
    "verloskundige_zorg",
    "generalistische_basis_ggz",
    "specialistische_ggz",
    "langdurige_ggz",
    "grensoverschrijdende_zorg",
    "eerstelijns_ondersteuning",
    "geriatrische_revalidatiezorg",
    "eerstelijnsverblijf",
    "verpleging_en_verzorging",
    "gzsp",
    "integrale_geboortezorg",
    "innovatiegelden_ggz",
    "consulten_ggz",
    "intramuraal_verblijf_ggz",
    "overige_prestaties_ggz",
    "overig",
]
#: The rest bucket: amounts of `kosten_` columns no known category matches.
REST = "onbekende_categorie"
#: Spellings of the same category.
ALIASES = {"eerstelijns_verblijf": "eerstelijnsverblijf"}
COSTS = [f"KOSTEN_{c.upper()}" for c in [*CATEGORIES, REST]]
KEYS = ["JAAR", "GESLACHT", "LEEFTIJDSKLASSE"]
MEASURES = ["AANTAL_BSN", "AANTAL_VERZEKERDEJAREN", *COSTS]
AGE_CLASSES = [str(age) for age in range(0, 90, 5)] + ["90+"]
#: Vektis cuts column names at this length from 2022 on.
NAME_LIMIT = 32
_PLAIN = {"JAAR", "GESLACHT", "LEEFTIJDSKLASSE", "GEMEENTENAAM", "POSTCODE_3", "AANTAL_BSN", "AANTAL_VERZEKERDEJAREN"}


def column_name(name: str) -> str | None:
    """The delivered shape's name of a published column; None for a cost column of no known category."""
    upper = name.strip().upper()
    if upper == "POSTCODE3":
        return "POSTCODE_3"
    if not upper.startswith("KOSTEN_"):
        return upper
    category = name.strip().lower().removeprefix("kosten_")
    category = ALIASES.get(category, category)
    if category in CATEGORIES or category == REST:
        return f"KOSTEN_{category.upper()}"
    if len(name.strip()) >= NAME_LIMIT:
        matches = [c for c in [*CATEGORIES, *ALIASES] if c.startswith(category)]
        completed = {ALIASES.get(c, c) for c in matches}
        if len(completed) == 1:
            return f"KOSTEN_{completed.pop().upper()}"
    return None


def age_class(values: pd.Series) -> pd.Series:
    """`0 t/m 4 jaar` → `0`, `5 t/m  9 jaar` → `5`, `90 jaar en ouder` → `90+`; other values as delivered."""
    text = values.str.strip()
    lower = text.str.extract(r"^(\d+)\s*(?:t/m|-|tot)\s*\d+(?:\s*jaar)?$", expand=False)
    oldest = text.str.fullmatch(r"90\s*(?:\+|jaar en ouder|en ouder|\+ jaar)")
    return lower.where(lower.notna(), text.where(~oldest, "90+"))


def _decimal_point(values: pd.Series) -> pd.Series:
    return values.str.strip().str.replace(r"^(-?\d+),(\d+)$", r"\1.\2", regex=True)


def _rest(frame: pd.DataFrame) -> pd.Series:
    """The sum of the unknown cost columns per row; a value that is no number is passed on as
    delivered, so the contract rejects the row with a reason instead of the sum hiding it."""
    numbers = frame.apply(pd.to_numeric, errors="coerce")
    broken = frame.ne("") & numbers.isna()
    total = numbers.sum(axis=1, min_count=1).round(2).map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    first_broken = frame.where(broken).bfill(axis=1).iloc[:, 0]
    return first_broken.where(broken.any(axis=1), total)


def normalise(frame: pd.DataFrame, year: int | str | None, origin: str) -> pd.DataFrame:
    """One published Vektis table (text columns as read) in the delivered shape (see the module docstring)."""
    named = {column: column_name(str(column)) for column in frame.columns}
    unknown = [str(c).strip() for c, name in named.items() if name is None]
    renamed = frame.rename(columns={c: n for c, n in named.items() if n is not None})
    renamed = renamed.loc[:, ~renamed.columns.duplicated()]
    out = renamed[[c for c in renamed.columns if c in _PLAIN or c in COSTS]].copy()
    if "JAAR" not in out and year is not None:
        out.insert(0, "JAAR", str(year))
    if "LEEFTIJDSKLASSE" in out:
        out["LEEFTIJDSKLASSE"] = age_class(out["LEEFTIJDSKLASSE"])
    if "GEMEENTENAAM" in out:
        out["GEMEENTENAAM"] = out["GEMEENTENAAM"].str.strip().str.upper()
    if unknown:
        log.warning(
            "%s: cost columns %s name no known Vektis category; their amounts count in KOSTEN_%s",
            origin,
            ", ".join(unknown),
            REST.upper(),
        )
        extra = frame[[c for c, name in named.items() if name is None]].apply(_decimal_point)
        out[f"KOSTEN_{REST.upper()}"] = _rest(extra)
    for column in MEASURES:
        out[column] = _decimal_point(out[column]) if column in out else ""
    area = [c for c in ("GEMEENTENAAM", "POSTCODE_3") if c in out]
    return out[[c for c in [*KEYS, *area, *MEASURES] if c in out]]
