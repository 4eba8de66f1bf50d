"""Population, households and risk factors per buurt and year, and the planted care-use models.

Each buurt has a latent deprivation `z` (gemeente + wijk + buurt effect, larger cities a little
more deprived) and a latent age profile `a` (young families vs. elderly). The published KWB
figures (age bands, households, households with children, low incomes, welfare) follow from
them. The planted models below use exactly the *published* (rounded) KWB values as covariates,
so an analyst can recover the coefficients from the KWB file and the municipal records. Every
covariate is a topic real KWB tables publish (keys of KWB 2019, 84583NED); there is no
single-parent figure in KWB, so none is planted.
"""

from __future__ import annotations

import math

import numpy as np

from .common import RECODE, rng_for
from .geography import Unit

# Jeugd: new trajectories per youth (0-17) per year.
JEUGD_MODEL = {
    "formula": (
        "new_jeugd_trajectories ~ Poisson(youth_0_17 * exp(b0 + b_low_income*low_income_share "
        "+ b_with_kids*with_kids_share + b_welfare*welfare_share + b_age_0_15*share_0_15 "
        "+ b_trend*(year-2015) + log(intervention_multiplier)))"
    ),
    "unit": "buurt x year",
    "covariates": {
        "low_income_share": "HuishoudensMetEenLaagInkomen_78 / 100",
        "with_kids_share": "HuishoudensMetKinderen_31 / HuishoudensTotaal_28",
        "welfare_share": "PersonenPerSoortUitkeringBijstand_83 / AantalInwoners_5 (before suppression)",
        "share_0_15": "k_0Tot15Jaar_8 / AantalInwoners_5",
        "youth_0_17": "k_0Tot15Jaar_8 + round(0.3 * k_15Tot25Jaar_9)",
    },
    "coefficients": {
        "b0": -4.15,
        "b_low_income": 3.0,
        "b_with_kids": 3.0,
        "b_welfare": 8.0,
        "b_age_0_15": -2.0,
        "b_trend": 0.02,
    },
}
WMO_MODEL = {
    "formula": (
        "new_wmo_provisions ~ Poisson(inhabitants * exp(c0 + c_share_65*share_65_plus "
        "+ c_low_income*low_income_share + c_welfare*welfare_share))"
    ),
    "unit": "buurt x year",
    "covariates": {"share_65_plus": "k_65JaarOfOuder_12 / AantalInwoners_5"},
    "coefficients": {"c0": -5.49, "c_share_65": 4.0, "c_low_income": 2.0, "c_welfare": 4.0},
}
PARTICIPATIE_MODEL = {
    "formula": (
        "new_benefit_spells ~ Poisson(households * welfare_share * inhabitants / households "
        "/ (persons_per_benefit_household * mean_duration_years))"
    ),
    "unit": "buurt x year",
    "coefficients": {"persons_per_benefit_household": 1.5, "mean_duration_years": 2.5},
}
# Over-using wijken: Jeugd use above what the risk profile predicts (e.g. a referral practice of
# their own). Planted in one wijk of at least median size in some gemeenten, so the expected-vs-
# actual analysis has known wijken to flag.
OVER_USE = {
    "probability_per_gemeente": 0.35,
    "multiplier": 1.8,
    "applies_to": "the Jeugd rate of new trajectories (so also Jeugd clients and cost) in every year",
    "eligible": "wijken with at least the median population share of their gemeente (gemeenten with 3+ wijken)",
}
MULTI_DOMAIN_MODEL = {
    "formula": (
        "multi_domain_households ~ Poisson(households * exp(m0 + m_risk * risk_score)); "
        "risk_score = b_low_income*low_income_share + b_with_kids*with_kids_share "
        "+ b_welfare*welfare_share (Jeugd coefficients)"
    ),
    "unit": "buurt x year",
    "coefficients": {"m0": -9.95, "m_risk": 3.0},
    "domain_sets": {"jeugd+participatie": 0.35, "jeugd+wmo": 0.15, "wmo+participatie": 0.25, "all_three": 0.25},
    "note": (
        "each multi-domain household receives the first new Jeugd trajectory / Wmo provision / benefit "
        "spell of its buurt-year in each of its domains (capped by the number generated)"
    ),
}


def latent(seed: int, unit: Unit) -> dict[str, np.ndarray]:
    """Year-invariant latent deprivation `z` and age profile `a` per buurt."""
    rng = rng_for(seed, "latent", unit.code)
    city = 0.25 * math.log(max(unit.population, 1) / 30_000) / math.log(30)
    g = rng.normal(city, 0.35)
    wijk_z = rng.normal(0.0, 0.5, size=unit.n_wijken)
    wijk_a = rng.normal(0.0, 0.7, size=unit.n_wijken)
    z = g + wijk_z[unit.bu_wijk] + rng.normal(0.0, 0.3, size=unit.n_buurten)
    a = wijk_a[unit.bu_wijk] + rng.normal(0.0, 0.5, size=unit.n_buurten)
    out = {"z": z, "a": a}
    # Factor-specific variation (wijk + buurt) so the risk factors are not collinear.
    extra = rng_for(seed, "latent-factors", unit.code)
    for factor in ("e_low_income", "e_with_kids", "e_welfare"):
        wijk_e = extra.normal(0.0, 0.3, size=unit.n_wijken)
        out[factor] = wijk_e[unit.bu_wijk] + extra.normal(0.0, 0.15, size=unit.n_buurten)
    out["over_use"] = np.ones(unit.n_buurten)
    wijk = over_use_wijk(seed, unit)
    if wijk is not None:
        out["over_use"][unit.bu_wijk == wijk] = OVER_USE["multiplier"]
    return out


def over_use_wijk(seed: int, unit: Unit) -> int | None:
    """The wijk (index) planted as over-user in this gemeente, or None (own random stream)."""
    if unit.n_wijken < 3:
        return None
    rng = rng_for(seed, "over_use", unit.code)
    if rng.random() >= OVER_USE["probability_per_gemeente"]:
        return None
    share = np.bincount(unit.bu_wijk, weights=unit.bu_share, minlength=unit.n_wijken)
    candidates = np.flatnonzero(share >= np.median(share))
    if unit.code == RECODE["gemeente"]:
        candidates = candidates[candidates != 0]  # the wijk that is split later keeps one code per year
    return int(rng.choice(candidates)) if len(candidates) else None


def demographics(seed: int, unit: Unit, lat: dict[str, np.ndarray], year: int) -> dict[str, np.ndarray]:
    """KWB-like figures per buurt for one year (integers are counts, shares in percent)."""
    rng = rng_for(seed, "demo", unit.code, year)
    z = lat["z"] + rng.normal(0.0, 0.05, size=unit.n_buurten)
    a = lat["a"]
    pop = np.maximum(np.round(unit.population_in(year) * unit.bu_share * rng.normal(1, 0.01, unit.n_buurten)), 5)
    pop = pop.astype(np.int64)
    shares = np.column_stack([0.16 + 0.03 * a, 0.12 + 0.01 * a, 0.25 + 0.02 * a, 0.27 - 0.01 * a, 0.20 - 0.05 * a])
    shares = np.clip(shares, 0.02, None)
    shares /= shares.sum(axis=1, keepdims=True)
    bands = np.floor(shares * pop[:, None]).astype(np.int64)
    bands[:, 3] += pop - bands.sum(axis=1)
    men = np.round(pop * rng.normal(0.496, 0.01, unit.n_buurten)).astype(np.int64)
    hh_size = np.clip(2.15 + 0.18 * a - 0.05 * z, 1.7, 3.2)
    households = np.maximum(np.round(pop / hh_size), 1).astype(np.int64)
    single = np.round(households * np.clip(0.38 - 0.06 * a + 0.04 * z, 0.1, 0.7)).astype(np.int64)
    with_kids = np.round(households * np.clip((0.30 + 0.06 * a) * np.exp(lat["e_with_kids"]), 0.05, 0.6))
    with_kids = np.minimum(with_kids.astype(np.int64), households - single)
    without_kids = households - single - with_kids
    low_income = np.round(np.clip(8.0 * np.exp(0.45 * z + lat["e_low_income"]), 1.0, 45.0), 1)
    income = np.round(32.0 * np.exp(-0.15 * z) * 1.02 ** (year - 2020), 1)
    # CBS publishes benefit counts rounded to tens.
    welfare = (np.round(pop * np.clip(0.022 * np.exp(0.65 * z + lat["e_welfare"]), 0.002, 0.2) / 10) * 10).astype(
        np.int64
    )
    ao = (np.round(pop * 0.045 * np.exp(0.3 * z) / 10) * 10).astype(np.int64)
    ww = (np.round(pop * 0.015 * np.exp(0.2 * z) / 10) * 10).astype(np.int64)
    aow = (np.round(bands[:, 4] * 0.97 / 10) * 10).astype(np.int64)
    density = np.round(pop / np.maximum(unit.bu_area_km2, 0.01)).astype(np.int64)
    out = {
        "pop": pop,
        "men": men,
        "women": pop - men,
        "age_0_15": bands[:, 0],
        "age_15_25": bands[:, 1],
        "age_25_45": bands[:, 2],
        "age_45_65": bands[:, 3],
        "age_65": bands[:, 4],
        "households": households,
        "hh_single": single,
        "hh_without_kids": without_kids,
        "hh_with_kids": with_kids,
        "density": density,
        "income": income,
        "low_income": low_income,
        "welfare": welfare,
        "ao": ao,
        "ww": ww,
        "aow": aow,
        "z": z,
        "over_use": lat["over_use"],
    }
    out.update(covariates(out))
    return out


def covariates(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    pop = np.maximum(d["pop"], 1)
    x = {
        "x_low_income": d["low_income"] / 100.0,
        "x_with_kids": d["hh_with_kids"] / np.maximum(d["households"], 1),
        "x_welfare": d["welfare"] / pop,
        "x_age_0_15": d["age_0_15"] / pop,
        "x_age_65": d["age_65"] / pop,
        "youth": d["age_0_15"] + np.round(0.3 * d["age_15_25"]).astype(np.int64),
    }
    c = JEUGD_MODEL["coefficients"]
    x["risk_score"] = (
        c["b_low_income"] * x["x_low_income"] + c["b_with_kids"] * x["x_with_kids"] + c["b_welfare"] * x["x_welfare"]
    )
    return x


def jeugd_rate(d: dict[str, np.ndarray], year: int) -> np.ndarray:
    c = JEUGD_MODEL["coefficients"]
    rate = np.exp(c["b0"] + d["risk_score"] + c["b_age_0_15"] * d["x_age_0_15"] + c["b_trend"] * (year - 2015))
    return rate * d["over_use"]


def wmo_rate(d: dict[str, np.ndarray]) -> np.ndarray:
    c = WMO_MODEL["coefficients"]
    return np.exp(
        c["c0"]
        + c["c_share_65"] * d["x_age_65"]
        + c["c_low_income"] * d["x_low_income"]
        + c["c_welfare"] * d["x_welfare"]
    )


def participatie_rate(d: dict[str, np.ndarray]) -> np.ndarray:
    """New benefit spells per household per year."""
    c = PARTICIPATIE_MODEL["coefficients"]
    per_hh = d["welfare"] / np.maximum(d["households"], 1)
    return per_hh / (c["persons_per_benefit_household"] * c["mean_duration_years"])


def multi_domain_rate(d: dict[str, np.ndarray]) -> np.ndarray:
    c = MULTI_DOMAIN_MODEL["coefficients"]
    return np.exp(c["m0"] + c["m_risk"] * d["risk_score"])
