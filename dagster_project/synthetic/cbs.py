"""CBS deliveries: Kerncijfers wijken en buurten (KWB) and care use per wijk.

`cbs_kwb/kwb_<year>.csv` imitates the TypedDataSet CSV CBS offers for download (the real 2019
file is `tests/fixtures/cbs_kwb/kwb_2019.csv`): UTF-8 with a byte-order mark, `;`, every field
quoted, codes and names padded right (10 and 40 characters), numbers padded left to 8
characters, `.` (padded) where CBS keeps a value secret. The header holds the year's own
StatLine keys (`dagster_project/sources/kwb_keys.py`; a year without a verified key list takes
the layout of the nearest verified year), only for the topics MMR reads, and only the topics
that year's table has: no jeugdzorg and Wmo topics up to 2017, no share of low-income
households from 2024 on. One row per gemeente, wijk and buurt, gemeente first, each wijk
followed by its buurten. Buurten under 200 inhabitants get `.` for income, benefit and care
columns. Benefit counts are rounded to tens. JongerenMetJeugdzorgInNatura is the number of
youth (0-17) with Jeugd care in the year (rounded to fives) and PercentageJongerenMetJeugdzorg
their share of all youth; WmoClienten the number of Wmo clients (rounded to fives) and
WmoClientenRelatief per 1,000 inhabitants; all counted from the municipal records.

`cbs_wijk_zorg/wijk_zorg_<year>.csv` follows the same conventions (OData typed dataset of the
CBS tables on jeugdhulp, Wmo-cliënten and bijstand per wijk), one row per gemeente and wijk:
`ID;WijkenEnBuurten;Gemeentenaam_1;SoortRegio_2;Codering_3;Perioden;JongerenMetJeugdhulp_4;
JongerenMetJeugdhulpRelatief_5;JeugdhulpMetVerblijf_6;WmoClienten_7;WmoClientenRelatief_8;
PersonenMetBijstand_9;PersonenMetBijstandRelatief_10`. Perioden is `<year>JJ00`; counts are
distinct persons active at any time in the year, rounded to fives, `.` below 10; relative
figures are percent of youth 0-17 (jeugdhulp) or per 1,000 inhabitants (Wmo, bijstand).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dagster_project.sources import kwb_keys

from .writers import fmt_dec, fmt_int, pad, statline_csv

SUM_COLUMNS = [
    "pop",
    "men",
    "women",
    "age_0_15",
    "age_15_25",
    "age_25_45",
    "age_45_65",
    "age_65",
    "households",
    "hh_single",
    "hh_without_kids",
    "hh_with_kids",
    "welfare",
    "ao",
    "ww",
    "aow",
    "youth",
    "jeugd_clients",
    "jeugd_verblijf",
    "wmo_clients",
    "bijstand_persons",
    "area_km2",
]
SMALL_BUURT = 200


def _aggregate(buurten: pd.DataFrame, key: str) -> pd.DataFrame:
    frame = buurten.assign(
        income_w=buurten["income"] * buurten["pop"], low_w=buurten["low_income"] * buurten["households"]
    )
    agg = frame.groupby(key, sort=True).agg(
        {**{c: "sum" for c in SUM_COLUMNS}, "income_w": "sum", "low_w": "sum", "gm_code": "first", "gm_name": "first"}
    )
    agg["income"] = agg["income_w"] / agg["pop"].clip(lower=1)
    agg["low_income"] = agg["low_w"] / agg["households"].clip(lower=1)
    agg["code"] = agg.index
    return agg.reset_index(drop=True)


def kwb_frame(buurten: pd.DataFrame) -> pd.DataFrame:
    """All rows of one KWB year in delivery order (gemeente, then each wijk with its buurten)."""
    gem = _aggregate(buurten, "gm_code").assign(level="Gemeente", gm_sort=lambda f: f["code"], wk_sort="")
    wijk = _aggregate(buurten, "wk_code").assign(level="Wijk", gm_sort=lambda f: f["gm_code"])
    wijk["wk_sort"] = wijk["code"]
    bu = buurten.assign(level="Buurt", code=buurten["bu_code"], gm_sort=buurten["gm_code"], wk_sort=buurten["wk_code"])
    rows = pd.concat([gem, wijk, bu], ignore_index=True)
    rank = rows["level"].map({"Gemeente": 0, "Wijk": 1, "Buurt": 2})
    rows = rows.assign(_r=np.where(rank == 2, 1, 0)).sort_values(["gm_sort", "wk_sort", "_r", "code"], kind="stable")
    return rows.reset_index(drop=True)


def _text(values, width: int) -> np.ndarray:
    return np.char.rjust(np.asarray(values).astype(str), width).astype(object)


def _number(values, secret=None, digits: int | None = None, width: int = 8) -> np.ndarray:
    return _text(fmt_int(values, secret) if digits is None else fmt_dec(values, secret, digits), width)


def write_kwb(buurten: pd.DataFrame, path: Path, year: int) -> int:
    rows = kwb_frame(buurten)
    level = rows["level"].to_numpy()
    is_bu = level == "Buurt"
    small = is_bu & (rows["pop"].to_numpy() < SMALL_BUURT)
    pop = rows["pop"].to_numpy()
    youth_small = small | (rows["youth"].to_numpy() < 20)
    jeugd = rows["jeugd_clients"].to_numpy()
    wmo = rows["wmo_clients"].to_numpy()
    topics = {
        "Gemeentenaam": pad(rows["gm_name"], 40),
        "SoortRegio": pad(rows["level"]),
        "Codering": pad(rows["code"]),
        "IndelingswijzigingWijkenEnBuurten": np.where(level == "Gemeente", ".", "1").astype(object),
        "AantalInwoners": _number(pop),
        "Mannen": _number(rows["men"]),
        "Vrouwen": _number(rows["women"]),
        "k_0Tot15Jaar": _number(rows["age_0_15"]),
        "k_15Tot25Jaar": _number(rows["age_15_25"]),
        "k_25Tot45Jaar": _number(rows["age_25_45"]),
        "k_45Tot65Jaar": _number(rows["age_45_65"]),
        "k_65JaarOfOuder": _number(rows["age_65"]),
        "HuishoudensTotaal": _number(rows["households"]),
        "Eenpersoonshuishoudens": _number(rows["hh_single"]),
        "HuishoudensZonderKinderen": _number(rows["hh_without_kids"]),
        "HuishoudensMetKinderen": _number(rows["hh_with_kids"]),
        "GemiddeldeHuishoudensgrootte": _number(pop / rows["households"].clip(lower=1), digits=1),
        "Bevolkingsdichtheid": _number(np.round(pop / rows["area_km2"].clip(lower=0.01))),
        "GemiddeldInkomenPerInwoner": _number(rows["income"], small, digits=1),
        "HuishoudensMetEenLaagInkomen": _number(rows["low_income"], small, digits=1),
        "PersonenPerSoortUitkeringBijstand": _number(rows["welfare"], small),
        "PersonenPerSoortUitkeringAO": _number(rows["ao"], small),
        "PersonenPerSoortUitkeringWW": _number(rows["ww"], small),
        "PersonenPerSoortUitkeringAOW": _number(rows["aow"], small),
        "JongerenMetJeugdzorgInNatura": _number(np.round(jeugd / 5) * 5, youth_small),
        "PercentageJongerenMetJeugdzorg": _number(100 * jeugd / rows["youth"].clip(lower=1), youth_small, digits=1),
        "WmoClienten": _number(np.round(wmo / 5) * 5, small),
        "WmoClientenRelatief": _number(np.round(1000 * wmo / np.maximum(pop, 1)), small),
        "MeestVoorkomendePostcode": _text(np.where(is_bu, rows["pc4"].fillna(0).astype(int).astype(str), "."), 10),
        "Dekkingspercentage": _text(np.where(is_bu, rows["dekking"].fillna(1).astype(int).astype(str), "."), 8),
    }
    keys = kwb_keys.keys_of(year)
    ordered = sorted((int(key.rsplit("_", 1)[1]), name, key) for name, key in keys.items() if name in topics)
    out = {"ID": np.arange(len(rows)).astype(str).astype(object), "WijkenEnBuurten": pad(rows["code"])}
    out |= {key: topics[name] for _, name, key in ordered}
    quoted = ['"' + values + '"' for values in out.values()]
    lines = quoted[0]
    for values in quoted[1:]:
        lines = lines + ";" + values
    header = ";".join(f'"{key}"' for key in out)
    path.write_text("\ufeff" + header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return len(rows)


def write_wijk_zorg(buurten: pd.DataFrame, year: int, path: Path) -> int:
    gem = _aggregate(buurten, "gm_code").assign(level="Gemeente", gm_sort=lambda f: f["code"], _r=0)
    wijk = _aggregate(buurten, "wk_code").assign(level="Wijk", gm_sort=lambda f: f["gm_code"], _r=1)
    rows = pd.concat([gem, wijk], ignore_index=True).sort_values(["gm_sort", "_r", "code"]).reset_index(drop=True)

    def count(values: pd.Series) -> np.ndarray:
        v = values.to_numpy()
        return fmt_int(np.round(v / 5) * 5, v < 10)

    pop = rows["pop"].clip(lower=1).to_numpy()
    youth = rows["youth"].clip(lower=1).to_numpy()
    out = pd.DataFrame(
        {
            "ID": np.arange(len(rows)).astype(str),
            "WijkenEnBuurten": pad(rows["code"]),
            "Gemeentenaam_1": pad(rows["gm_name"], 50),
            "SoortRegio_2": pad(rows["level"]),
            "Codering_3": pad(rows["code"]),
            "Perioden": f"{year}JJ00",
            "JongerenMetJeugdhulp_4": count(rows["jeugd_clients"]),
            "JongerenMetJeugdhulpRelatief_5": fmt_dec(100 * rows["jeugd_clients"] / youth, rows["jeugd_clients"] < 10),
            "JeugdhulpMetVerblijf_6": count(rows["jeugd_verblijf"]),
            "WmoClienten_7": count(rows["wmo_clients"]),
            "WmoClientenRelatief_8": fmt_dec(1000 * rows["wmo_clients"] / pop, rows["wmo_clients"] < 10),
            "PersonenMetBijstand_9": count(rows["bijstand_persons"]),
            "PersonenMetBijstandRelatief_10": fmt_dec(
                1000 * rows["bijstand_persons"] / pop, rows["bijstand_persons"] < 10
            ),
        }
    )
    statline_csv(out, {"WijkenEnBuurten", "Gemeentenaam_1", "SoortRegio_2", "Codering_3", "Perioden"}, path)
    return len(out)
