"""Vektis open data Zorgverzekeringswet (Zvw): insured persons and costs per category.

Two files per year in `vektis_zvw/`, `vektis_zvw_gemeente_<year>.csv` and
`vektis_zvw_postcode3_<year>.csv`, in the layout Vektis used that year (`published`): no `JAAR`
column; upper-case names before 2020 (`KOSTEN_SPECIALISTISCHE_GGZ`, `KOSTEN_LANGDURIGE_GGZ`,
`KOSTEN_EERSTELIJNS_ONDERSTEUNING`), lower case from 2020, cut at 32 characters from 2022 with the
GGZ categories of the new funding model (`kosten_consulten_ggz`, ...); age classes written
`0 t/m 4 jaar`, `5 t/m  9 jaar` (two spaces), ..., `90 jaar en ouder`; sex M/V; gemeente names
upper case. From 2022 the gemeente file uses a later municipal division than its year, as
Vektis' files do: gemeenten that merged later are listed under the new gemeente.

Costs are euros per cell. Planted: cost per insured year = base(category, age, sex) ×
exp(gamma_category × (low_income_share − 0.085)) × log-normal noise (sd 0.05), with the
low-income share of the gemeente (or postcode-3 area) from KWB.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import rng_for

AGE_CLASSES = [str(a) for a in range(0, 90, 5)] + ["90+"]
# Share of each KWB band that falls in each five-year class.
_SPLIT = {
    "age_0_15": [1 / 3, 1 / 3, 1 / 3],
    "age_15_25": [0.5, 0.5],
    "age_25_45": [0.25, 0.25, 0.25, 0.25],
    "age_45_65": [0.25, 0.25, 0.25, 0.25],
    "age_65": [0.3, 0.26, 0.2, 0.13, 0.07, 0.04],
}
# category -> (cost per insured year at age 0-4, cost at 85+, shape exponent, gamma on low income)
CATEGORIES = {
    "medisch_specialistische_zorg": (700.0, 4200.0, 1.6, 1.5),
    "farmacie": (80.0, 1500.0, 1.4, 1.0),
    "huisarts_inschrijftarief": (70.0, 140.0, 1.0, 0.3),
    "huisarts_consult": (40.0, 150.0, 1.2, 0.8),
    "huisarts_mdz": (5.0, 120.0, 2.0, 1.0),
    "huisarts_overig": (20.0, 90.0, 1.2, 0.5),
    "hulpmiddelen": (20.0, 500.0, 1.8, 0.5),
    "mondzorg": (60.0, 20.0, 1.0, 0.2),
    "paramedische_zorg_fysiotherapie": (10.0, 160.0, 1.3, 0.2),
    "paramedische_zorg_overig": (60.0, 40.0, 1.0, 0.5),
    "ziekenvervoer_zittend": (5.0, 150.0, 2.0, 0.8),
    "ziekenvervoer_liggend": (10.0, 250.0, 2.0, 0.5),
    "kraamzorg": (0.0, 0.0, 1.0, 0.0),
    "verloskundige_zorg": (0.0, 0.0, 1.0, 0.0),
    "generalistische_basis_ggz": (15.0, 20.0, 1.0, 3.0),
    "specialistische_ggz": (50.0, 100.0, 1.0, 4.0),
    "langdurige_ggz": (5.0, 20.0, 1.0, 4.0),
    "grensoverschrijdende_zorg": (8.0, 30.0, 1.0, 0.0),
    "eerstelijns_ondersteuning": (1.0, 5.0, 1.0, 0.3),
    "geriatrische_revalidatiezorg": (0.0, 600.0, 3.0, 0.3),
    "eerstelijnsverblijf": (0.0, 250.0, 3.0, 0.3),
    "verpleging_en_verzorging": (10.0, 2500.0, 3.0, 0.5),
    "gzsp": (0.5, 2.0, 1.0, 0.5),
    "integrale_geboortezorg": (0.0, 0.0, 1.0, 0.0),
    "innovatiegelden_ggz": (0.1, 0.2, 1.0, 0.0),
    "consulten_ggz": (40.0, 60.0, 1.0, 3.5),
    "intramuraal_verblijf_ggz": (10.0, 40.0, 1.0, 4.0),
    "overige_prestaties_ggz": (10.0, 20.0, 1.0, 3.5),
    "overig": (30.0, 150.0, 1.0, 0.3),
}
#: The categories of a year's file, in the file's order (the GGZ funding model changed in 2022).
_UNTIL_2021 = [
    *list(CATEGORIES)[:14],
    "generalistische_basis_ggz",
    "specialistische_ggz",
    "langdurige_ggz",
    "grensoverschrijdende_zorg",
    "eerstelijns_ondersteuning",
    "geriatrische_revalidatiezorg",
    "eerstelijnsverblijf",
    "verpleging_en_verzorging",
    "overig",
]
_FROM_2022 = [
    *list(CATEGORIES)[:14],
    "grensoverschrijdende_zorg",
    "eerstelijns_ondersteuning",
    "geriatrische_revalidatiezorg",
    "eerstelijnsverblijf",
    "verpleging_en_verzorging",
    "gzsp",
    "integrale_geboortezorg",
    "innovatiegelden_ggz",
    "overig",
    "consulten_ggz",
    "intramuraal_verblijf_ggz",
    "overige_prestaties_ggz",
]
AGE_LABELS = [f"{a} t/m {a + 4:>2} jaar" for a in range(0, 90, 5)] + ["90 jaar en ouder"]


def categories_of(year: int) -> list[str]:
    return _FROM_2022 if year >= 2022 else _UNTIL_2021


def published(frame: pd.DataFrame, year: int) -> pd.DataFrame:
    """Rows in the delivered shape (upper-case names, `JAAR`, classes `0` … `90+`) written the way
    Vektis published the year: see the module docstring."""
    out = frame.drop(columns=["JAAR"]).copy()
    out["LEEFTIJDSKLASSE"] = out["LEEFTIJDSKLASSE"].map(dict(zip(AGE_CLASSES, AGE_LABELS, strict=True)))
    keep = [c for c in out.columns if not c.startswith("KOSTEN_")]
    out = out[keep + [f"KOSTEN_{c.upper()}" for c in categories_of(year)]]
    if year < 2020:
        return out
    names = [c.lower() for c in out.columns]
    return out.set_axis([n[:32] for n in names] if year >= 2022 else names, axis=1)


# per woman 25-39 per birth-year
MATERNITY = {"kraamzorg": 900.0, "verloskundige_zorg": 500.0, "integrale_geboortezorg": 40.0}
GAMMA = {k: v[3] for k, v in CATEGORIES.items()}


def class_counts(row: dict) -> np.ndarray:
    """Persons per five-year class (19 classes) from the KWB age bands."""
    values = []
    for band, split in _SPLIT.items():
        values += [row[band] * s for s in split]
    return np.array(values)


def _base_costs(sex: str) -> np.ndarray:
    ages = np.array([a + 2.5 for a in range(0, 95, 5)])
    t = np.clip(ages / 87.5, 0, 1)
    out = []
    for name, (young, old, shape, _gamma) in CATEGORIES.items():
        curve = young + (old - young) * t**shape
        if name in MATERNITY:
            curve = np.where((sex == "V") & (ages > 22) & (ages < 42), MATERNITY[name] * 0.12, 0.0)
        out.append(curve)
    return np.array(out).T  # (19, categories)


BASE = {"M": _base_costs("M"), "V": _base_costs("V") * 1.08}


def rows_for(
    seed: int,
    key: str,
    year: int,
    label_column: str,
    label: str,
    counts: np.ndarray,
    men_share: float,
    low_income_share: float,
) -> pd.DataFrame:
    rng = rng_for(seed, "vektis", key, year)
    frames = []
    for sex, share in (("M", men_share), ("V", 1 - men_share)):
        bsn = np.round(counts * share).astype(np.int64)
        years_insured = np.round(bsn * rng.uniform(0.975, 0.995, len(bsn)), 2)
        gamma = np.array(list(GAMMA.values()))
        mult = np.exp(gamma * (low_income_share - 0.085)) * 1.035 ** (year - 2020)
        costs = BASE[sex] * mult[None, :] * rng.lognormal(0, 0.05, BASE[sex].shape) * years_insured[:, None]
        frame = pd.DataFrame(np.round(costs, 2), columns=[f"KOSTEN_{c.upper()}" for c in CATEGORIES])
        frame.insert(0, "AANTAL_VERZEKERDEJAREN", years_insured)
        frame.insert(0, "AANTAL_BSN", bsn)
        frame.insert(0, label_column, label)
        frame.insert(0, "LEEFTIJDSKLASSE", AGE_CLASSES)
        frame.insert(0, "GESLACHT", sex)
        frame.insert(0, "JAAR", year)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
