"""Yearly client-experience survey (cliëntervaringsonderzoek, CEO) for Jeugd and Wmo.

One file per gemeente per year in `clientervaring/`: `clientervaring_<GMcode>_<year>.csv`,
`;`-separated, UTF-8, one row per respondent × question:
`jaar;gemeentecode;domein;respondent_id;trajectnummer;agb_code;vraag_code;vraag_tekst;antwoord`.
`antwoord` is 1 (helemaal oneens) .. 5 (helemaal eens); `respondent_id` is a pseudokey,
`trajectnummer` links to the Jeugd trajectory or Wmo provision number of the municipal export.

Jeugd: trajectories that ended in the year are invited (60 %), 30 % respond. Wmo: provisions
active in the year are sampled (6 %), 30 % respond. Planted satisfaction model:
latent = 3.9 + provider.satisfaction + 0.5·[doel bereikt] − 0.4·[voortijdig afgebroken]
+ N(0, 0.6) per respondent; answer = clip(round(latent + question shift + N(0, 0.5)), 1, 5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import rng_for

QUESTIONS = {
    "jeugd": [
        ("J01", "Ik kon makkelijk hulp krijgen", 0.0),
        ("J02", "De hulpverlener nam mij serieus", 0.2),
        ("J03", "Ik heb samen met de hulpverlener besloten over de hulp", 0.0),
        ("J04", "De hulp paste bij wat ik nodig had", -0.1),
        ("J05", "Ik ben tevreden over de hulp", 0.0),
        ("J06", "Door de hulp kan ik beter omgaan met mijn problemen", -0.2),
        ("J07", "Door de hulp gaat het nu beter met mijn kind", -0.2),
    ],
    "wmo": [
        ("W01", "Ik wist waar ik moest zijn met mijn hulpvraag", -0.1),
        ("W02", "Ik werd snel geholpen", -0.2),
        ("W03", "De medewerker nam mij serieus", 0.2),
        ("W04", "De medewerker en ik hebben in samenspraak gekeken naar een oplossing", 0.0),
        ("W05", "De ondersteuning die ik krijg is van goede kwaliteit", 0.1),
        ("W06", "Door de ondersteuning kan ik de dingen doen die ik wil", -0.1),
        ("W07", "Door de ondersteuning kan ik mij beter redden", 0.0),
        ("W08", "Door de ondersteuning heb ik een betere kwaliteit van leven", -0.1),
    ],
}
SATISFACTION_MODEL = {
    "intercept": 3.9,
    "goal_attained": 0.5,
    "dropout": -0.4,
    "respondent_sd": 0.6,
    "answer_sd": 0.5,
    "question_shift": {code: shift for qs in QUESTIONS.values() for code, _t, shift in qs},
}


def respondents(seed: int, key: str, year: int, domain: str, cases: dict, providers: list) -> pd.DataFrame:
    """Survey rows of one gemeente-year and domain (cases already restricted to this gemeente)."""
    if not cases:
        return pd.DataFrame()
    rng = rng_for(seed, "survey", key, domain, year)
    lo, hi = year * 12, year * 12 + 11
    if domain == "jeugd":
        eligible = (cases["end_m"] >= lo) & (cases["end_m"] <= hi)
        p = 0.6 * 0.3
    else:
        eligible = (cases["start_m"] <= hi) & (cases["end_m"] >= lo) & ~cases["pgb"]
        p = 0.06 * 0.3
    idx = np.flatnonzero(eligible & (rng.random(len(eligible)) < p))
    if not len(idx):
        return pd.DataFrame()
    sat = np.array([pr.satisfaction for pr in providers])[cases["prov"][idx]]
    latent = SATISFACTION_MODEL["intercept"] + sat + rng.normal(0, SATISFACTION_MODEL["respondent_sd"], len(idx))
    if domain == "jeugd":
        latent += SATISFACTION_MODEL["goal_attained"] * (cases["reason"][idx] == "doel bereikt")
        latent += SATISFACTION_MODEL["dropout"] * (cases["reason"][idx] == "voortijdig afgebroken")
    qs = QUESTIONS[domain]
    n_q = len(qs)
    shift = np.array([q[2] for q in qs])
    answers = np.clip(np.round(latent[:, None] + shift[None, :] + rng.normal(0, 0.5, (len(idx), n_q))), 1, 5)
    ids = cases["id"][idx]
    resp = np.char.add("R", np.char.mod("%010d", rng.integers(0, 10**10, len(idx), dtype=np.int64)))
    return pd.DataFrame(
        {
            "jaar": year,
            "domein": domain,
            "respondent_id": np.repeat(resp, n_q),
            "trajectnummer": np.repeat(ids, n_q),
            "agb_code": np.repeat(np.array([pr.agb for pr in providers])[cases["prov"][idx]], n_q),
            "vraag_code": np.tile([q[0] for q in qs], len(idx)),
            "vraag_tekst": np.tile([q[1] for q in qs], len(idx)),
            "antwoord": answers.reshape(-1).astype(np.int64),
        }
    )
