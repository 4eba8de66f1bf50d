"""Providers, contracts (tariffs), budgets and the intervention register.

Delivered files (all `;`-separated, decimal comma for money, dates dd-mm-yyyy, UTF-8):

* `contracten/contracten_<year>.csv` — one row per gemeente × provider × product:
  `gemeentecode;jaar;domein;agb_code;aanbieder;productcategorie;productcode;eenheid;tarief;
  ingangsdatum;einddatum`.
* `budgetten/budgetten_<year>.csv` — one row per gemeente × domain: `gemeentecode;gemeentenaam;
  jaar;domein;begroting_primair;begroting_na_wijziging` (euros; the realised spend in the
  municipal exports lands around the amended budget).
* `interventies/interventies.csv` — one row per intervention in a wijk: `interventie_id;
  gemeentecode;wijkcode;interventie_type;doelgroep;startdatum;einddatum` (codes valid on the start
  date; einddatum empty while running).

Providers are synthetic: a pool per approximate care region (eight neighbouring gemeenten) plus a
few national providers. AGB codes are 8 digits (Jeugd providers start with 98, Wmo with 75).
Each provider has planted effects on goal attainment, drop-out and satisfaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import RECODE, rng_for
from .geography import Unit

# product category -> (share of new cases, mean months, unit, tariff 2020, mean volume per month)
JEUGD_PRODUCTS = {
    "45": (0.50, 7.0, "uur", 95.0, 9.0),
    "43": (0.06, 10.0, "etmaal", 260.0, 29.0),
    "44": (0.05, 14.0, "etmaal", 75.0, 29.0),
    "41": (0.07, 8.0, "dagdeel", 110.0, 14.0),
    "46": (0.03, 1.0, "etmaal", 420.0, 10.0),
    "47": (0.03, 9.0, "maand", 620.0, 1.0),
    "48": (0.07, 12.0, "maand", 710.0, 1.0),
    "50": (0.09, 6.0, "maand", 1250.0, 1.0),
    "42": (0.05, 10.0, "rit", 28.0, 14.0),
    "40": (0.05, 9.0, "uur", 58.0, 8.0),
}
WMO_PRODUCTS = {
    "01": (0.34, 24.0, "uur", 32.0, 12.0),
    "02": (0.20, 14.0, "uur", 65.0, 10.0),
    "03": (0.05, 10.0, "uur", 60.0, 8.0),
    "07": (0.10, 18.0, "dagdeel", 45.0, 8.0),
    "08": (0.12, 24.0, "rit", 12.0, 6.0),
    "11": (0.06, 1.0, "stuk", 1500.0, 1.0),
    "13": (0.06, 1.0, "stuk", 3000.0, 1.0),
    "15": (0.04, 24.0, "etmaal", 120.0, 30.0),
    "04": (0.03, 2.0, "etmaal", 150.0, 7.0),
}
INTERVENTION_TYPES = {
    "POH-jeugd bij de huisarts": 0.85,
    "Gezinsaanpak wijkteam": 0.85,
    "Buurtsportcoach": 1.0,  # placebo: no effect on Jeugd use
}
INTERVENTION_PROBS = [0.4, 0.4, 0.2]
JEUGD_PREFIX = ["Jeugdhulp", "Stichting Kind en Gezin", "Opvoedpunt", "Jeugd-GGZ", "Pleegzorg", "Jeugdteam"]
WMO_PREFIX = ["Thuiszorg", "Zorggroep", "Begeleiding", "Dagbesteding", "Hulpmiddelencentrum", "Welzijn"]
NATIONAL_REGION = 999


@dataclass
class Provider:
    agb: str
    name: str
    domain: str
    region: int
    tariff_factor: float
    goal_logodds: float
    dropout_logodds: float
    satisfaction: float


def providers_for_region(seed: int, region: int, place: str) -> list[Provider]:
    out = []
    for domain, prefix, names, n in (("jeugd", "98", JEUGD_PREFIX, 12), ("wmo", "75", WMO_PREFIX, 10)):
        if region == NATIONAL_REGION:
            n = 6 if domain == "jeugd" else 4
        rng = rng_for(seed, "providers", domain, region)
        for i in range(n):
            label = "Nederland" if region == NATIONAL_REGION else place
            out.append(
                Provider(
                    agb=f"{prefix}{region:03d}{i + 1:03d}",
                    name=f"{names[int(rng.integers(len(names)))]} {label} {i + 1}",
                    domain=domain,
                    region=region,
                    tariff_factor=float(np.round(rng.uniform(0.85, 1.2), 3)),
                    goal_logodds=float(np.round(rng.normal(0.0, 0.5), 3)),
                    dropout_logodds=float(np.round(rng.normal(0.0, 0.5), 3)),
                    satisfaction=float(np.round(rng.normal(0.0, 0.35), 3)),
                )
            )
    return out


def build_providers(seed: int, units: list[Unit]) -> dict[int, list[Provider]]:
    regions: dict[int, list[Provider]] = {}
    national = providers_for_region(seed, NATIONAL_REGION, "Nederland")
    for unit in sorted(units, key=lambda u: (u.region, u.code)):
        if unit.region not in regions:
            regions[unit.region] = providers_for_region(seed, unit.region, unit.name) + national
    return regions


def tariff(base: float, factor: float, year: int) -> float:
    return round(base * factor * 1.03 ** (year - 2020), 2)


def plan_interventions(seed: int, units: list[Unit], lat: dict[str, dict], years: list[int], demo: set[str]):
    """Interventions in some high-risk wijken, each with a start date inside the generated years."""
    out = []
    for unit in units:
        rng = rng_for(seed, "interventions", unit.code)
        p = 0.5 if unit.code in demo else 0.15
        if rng.random() >= p or unit.n_wijken < 3:
            continue
        z = lat[unit.code]["z"]
        wijk_risk = np.array([z[unit.bu_wijk == w].mean() for w in range(unit.n_wijken)])
        candidates = np.flatnonzero(wijk_risk >= np.median(wijk_risk))
        if unit.code == RECODE["gemeente"]:
            candidates = candidates[candidates != 0]
        n = int(min(len(candidates), rng.integers(1, 4)))
        chosen = np.sort(rng.choice(candidates, size=n, replace=False))
        for w in chosen:
            kind = str(rng.choice(list(INTERVENTION_TYPES), p=INTERVENTION_PROBS))
            year = int(rng.integers(years[0] + 1, years[-1] + 1))
            start = np.datetime64(f"{year}-01-01") + int(rng.integers(0, 300))
            out.append(
                {
                    "unit": unit.code,
                    "wijk_index": int(w),
                    "type": kind,
                    "start": str(start),
                    "multiplier": INTERVENTION_TYPES[kind],
                }
            )
    for i, item in enumerate(out):
        item["id"] = f"INT{i + 1:04d}"
    return out
