"""Vektis open data Zorgverzekeringswet (Zvw): insured persons and costs per category.

Two files per year in `vektis_zvw/`, `;`-separated, decimal point, UTF-8, Vektis' column names:

* `vektis_zvw_gemeente_<year>.csv`: JAAR;GESLACHT;LEEFTIJDSKLASSE;GEMEENTENAAM;AANTAL_BSN;
  AANTAL_VERZEKERDEJAREN;KOSTEN_...  — like the real file the gemeente is identified only by its
  upper-case name (the name valid in that year).
* `vektis_zvw_postcode3_<year>.csv`: JAAR;GESLACHT;LEEFTIJDSKLASSE;POSTCODE_3;AANTAL_BSN;... .

GESLACHT is M/V, LEEFTIJDSKLASSE the five-year class (`0`, `5`, ... `85`, `90+`). Costs are
euros per cell. Planted: cost per insured year = base(category, age, sex) × exp(gamma_category ×
(low_income_share − 0.085)) × log-normal noise (sd 0.05), with the low-income share of the
gemeente (or postcode-3 area) from KWB.
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
    "KOSTEN_MEDISCH_SPECIALISTISCHE_ZORG": (700.0, 4200.0, 1.6, 1.5),
    "KOSTEN_FARMACIE": (80.0, 1500.0, 1.4, 1.0),
    "KOSTEN_HUISARTS_INSCHRIJFTARIEF": (70.0, 140.0, 1.0, 0.3),
    "KOSTEN_HUISARTS_CONSULT": (40.0, 150.0, 1.2, 0.8),
    "KOSTEN_HUISARTS_MDZ": (5.0, 120.0, 2.0, 1.0),
    "KOSTEN_HUISARTS_OVERIG": (20.0, 90.0, 1.2, 0.5),
    "KOSTEN_MONDZORG": (60.0, 20.0, 1.0, 0.2),
    "KOSTEN_PARAMEDISCHE_ZORG_FYSIOTHERAPIE": (10.0, 160.0, 1.3, 0.2),
    "KOSTEN_PARAMEDISCHE_ZORG_OVERIG": (60.0, 40.0, 1.0, 0.5),
    "KOSTEN_GENERALISTISCHE_BASIS_GGZ": (15.0, 20.0, 1.0, 3.0),
    "KOSTEN_GESPECIALISEERDE_GGZ": (60.0, 120.0, 1.0, 4.0),
    "KOSTEN_HULPMIDDELEN": (20.0, 500.0, 1.8, 0.5),
    "KOSTEN_ZIEKENVERVOER_ZITTEND": (5.0, 150.0, 2.0, 0.8),
    "KOSTEN_ZIEKENVERVOER_LIGGEND": (10.0, 250.0, 2.0, 0.5),
    "KOSTEN_KRAAMZORG": (0.0, 0.0, 1.0, 0.0),
    "KOSTEN_VERLOSKUNDIGE_ZORG": (0.0, 0.0, 1.0, 0.0),
    "KOSTEN_GRENSOVERSCHRIJDENDE_ZORG": (8.0, 30.0, 1.0, 0.0),
    "KOSTEN_GERIATRISCHE_REVALIDATIEZORG": (0.0, 600.0, 3.0, 0.3),
    "KOSTEN_VERPLEGING_EN_VERZORGING": (10.0, 2500.0, 3.0, 0.5),
    "KOSTEN_EERSTELIJNS_VERBLIJF": (0.0, 250.0, 3.0, 0.3),
    "KOSTEN_OVERIG": (30.0, 150.0, 1.0, 0.3),
}
MATERNITY = {"KOSTEN_KRAAMZORG": 900.0, "KOSTEN_VERLOSKUNDIGE_ZORG": 500.0}  # per woman 25-39 per birth-year
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
        frame = pd.DataFrame(np.round(costs, 2), columns=list(CATEGORIES))
        frame.insert(0, "AANTAL_VERZEKERDEJAREN", years_insured)
        frame.insert(0, "AANTAL_BSN", bsn)
        frame.insert(0, label_column, label)
        frame.insert(0, "LEEFTIJDSKLASSE", AGE_CLASSES)
        frame.insert(0, "GESLACHT", sex)
        frame.insert(0, "JAAR", year)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
