"""CBS deliveries: Kerncijfers wijken en buurten (KWB) and care use per wijk.

`cbs_kwb/kwb_<year>.csv` is StatLine's typed-dataset CSV (the layout the ingestion relies on):
`;`-separated, quoted header, quoted strings, codes space-padded to ten characters, decimal
point, a lone `.` for secret values. One row per gemeente, wijk and buurt, gemeente first, each
wijk followed by its buurten. Buurten under 200 inhabitants get `.` for income, benefit and care
columns. Benefit counts are rounded to tens. Column 87 (JongerenMetJeugdzorgInNatura) is the
percentage of youth (0-17) with Jeugd care in the year and column 89 (WmoClienten) the number of
Wmo clients (rounded to fives), both counted from the municipal records.

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

from .writers import fmt_dec, fmt_int, pad, statline_csv

KWB_COLUMNS = [
    "ID",
    "WijkenEnBuurten",
    "Gemeentenaam_1",
    "SoortRegio_2",
    "Codering_3",
    "IndelingswijzigingWijkenEnBuurten_4",
    "AantalInwoners_5",
    "Mannen_6",
    "Vrouwen_7",
    "k_0Tot15Jaar_8",
    "k_15Tot25Jaar_9",
    "k_25Tot45Jaar_10",
    "k_45Tot65Jaar_11",
    "k_65JaarOfOuder_12",
    "HuishoudensTotaal_28",
    "Eenpersoonshuishoudens_29",
    "HuishoudensZonderKinderen_30",
    "HuishoudensMetKinderen_31",
    "GemiddeldeHuishoudensgrootte_32",
    "Bevolkingsdichtheid_33",
    "Eenouderhuishoudens_34",
    "GemiddeldInkomenPerInwoner_72",
    "HuishoudensMetEenLaagInkomen_78",
    "PersonenPerSoortUitkeringBijstand_83",
    "PersonenPerSoortUitkeringAO_84",
    "PersonenPerSoortUitkeringWW_85",
    "PersonenPerSoortUitkeringAOW_86",
    "JongerenMetJeugdzorgInNatura_87",
    "WmoClienten_89",
    "MeestVoorkomendePostcode_113",
    "Dekkingspercentage_114",
]
KWB_TEXT = {
    "WijkenEnBuurten",
    "Gemeentenaam_1",
    "SoortRegio_2",
    "Codering_3",
    "IndelingswijzigingWijkenEnBuurten_4",
    "MeestVoorkomendePostcode_113",
    "Dekkingspercentage_114",
}
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
    "single_parent",
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


def write_kwb(buurten: pd.DataFrame, path: Path) -> int:
    rows = kwb_frame(buurten)
    is_bu = (rows["level"] == "Buurt").to_numpy()
    small = is_bu & (rows["pop"].to_numpy() < SMALL_BUURT)
    pop = rows["pop"].to_numpy()
    out = pd.DataFrame(
        {
            "ID": np.arange(len(rows)).astype(str),
            "WijkenEnBuurten": pad(rows["code"]),
            "Gemeentenaam_1": pad(rows["gm_name"], 50),
            "SoortRegio_2": pad(rows["level"]),
            "Codering_3": pad(rows["code"]),
            "IndelingswijzigingWijkenEnBuurten_4": "1",
            "AantalInwoners_5": fmt_int(pop),
            "Mannen_6": fmt_int(rows["men"]),
            "Vrouwen_7": fmt_int(rows["women"]),
            "k_0Tot15Jaar_8": fmt_int(rows["age_0_15"]),
            "k_15Tot25Jaar_9": fmt_int(rows["age_15_25"]),
            "k_25Tot45Jaar_10": fmt_int(rows["age_25_45"]),
            "k_45Tot65Jaar_11": fmt_int(rows["age_45_65"]),
            "k_65JaarOfOuder_12": fmt_int(rows["age_65"]),
            "HuishoudensTotaal_28": fmt_int(rows["households"]),
            "Eenpersoonshuishoudens_29": fmt_int(rows["hh_single"]),
            "HuishoudensZonderKinderen_30": fmt_int(rows["hh_without_kids"]),
            "HuishoudensMetKinderen_31": fmt_int(rows["hh_with_kids"]),
            "GemiddeldeHuishoudensgrootte_32": fmt_dec(pop / rows["households"].clip(lower=1)),
            "Bevolkingsdichtheid_33": fmt_int(np.round(pop / rows["area_km2"].clip(lower=0.01))),
            "Eenouderhuishoudens_34": fmt_int(rows["single_parent"]),
            "GemiddeldInkomenPerInwoner_72": fmt_dec(rows["income"], small),
            "HuishoudensMetEenLaagInkomen_78": fmt_dec(rows["low_income"], small),
            "PersonenPerSoortUitkeringBijstand_83": fmt_int(rows["welfare"], small),
            "PersonenPerSoortUitkeringAO_84": fmt_int(rows["ao"], small),
            "PersonenPerSoortUitkeringWW_85": fmt_int(rows["ww"], small),
            "PersonenPerSoortUitkeringAOW_86": fmt_int(rows["aow"], small),
            "JongerenMetJeugdzorgInNatura_87": fmt_dec(
                100 * rows["jeugd_clients"] / rows["youth"].clip(lower=1), small | (rows["youth"].to_numpy() < 20)
            ),
            "WmoClienten_89": fmt_int(np.round(rows["wmo_clients"] / 5) * 5, small),
            "MeestVoorkomendePostcode_113": np.where(is_bu, rows["pc4"].fillna(0).astype(int).astype(str), "."),
            "Dekkingspercentage_114": np.where(is_bu, rows["dekking"].fillna(1).astype(int).astype(str), "."),
        }
    )
    statline_csv(out[KWB_COLUMNS], KWB_TEXT, path)
    return len(out)


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
