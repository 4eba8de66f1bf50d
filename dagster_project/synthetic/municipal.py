"""Municipal monthly exports: Jeugd trajectories, Wmo provisions and Participatie benefits.

One file per gemeente per month and domain, named `<domain>_<GMcode>_<yyyy-mm>.csv` in
`gemeente_jeugd/`, `gemeente_wmo/` and `gemeente_participatie/`. Each file lists what was active
in that month (one row per trajectory / provision / benefit), `;`-separated, UTF-8, decimal comma
for money and volumes (`1234,50`), dates `dd-mm-yyyy`. The gemeentecode is the code valid in that
month, so Brielle, Hellevoetsluis and Westvoorne deliver as GM1992 from January 2023 on, and Weesp
as Amsterdam from April 2022 (running cases keep their number). Persons carry a BSN (9 digits,
11-proef) and an address (postcode `1234AB` + huisnummer) that places the household in one buurt;
children, parents and clients of one household share the address. Einddatum, reden_beeindiging
(and for Jeugd doel_bereikt) are filled on the last month's row of a case that ended.

Jeugd columns: gemeentecode;periode;trajectnummer;bsn;geboortedatum;geslacht;postcode;huisnummer;
verwijzer;productcategorie;productcode;agb_code;aanbieder;startdatum;einddatum;reden_beeindiging;
doel_bereikt;eenheid;volume;tarief;bedrag

Wmo columns: gemeentecode;periode;voorzieningnummer;bsn;geboortedatum;geslacht;postcode;huisnummer;
productcategorie;productcode;leveringsvorm;agb_code;aanbieder;startdatum;einddatum;
reden_beeindiging;eenheid;volume;tarief;bedrag   (PGB rows have an empty agb_code)

Participatie columns: gemeentecode;periode;uitkeringsnummer;bsn;geboortedatum;geslacht;postcode;
huisnummer;regeling;leefvorm;startdatum;einddatum;reden_beeindiging;bedrag_uitkering
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import population as popmod
from .common import bsn_from_ids, rng_for
from .finance import JEUGD_PRODUCTS, WMO_PRODUCTS, Provider
from .geography import Unit, address_of
from .writers import dmy, dutch_money, month_label, month_start, write_table

BURN_IN = {"jeugd": 2, "wmo": 3, "participatie": 6}
JEUGD_OUTCOME = {
    "moved_probability": 0.06,
    "dropout_logodds": "-1.8 + provider.dropout_logodds + 0.3*(risk_score - 0.8)",
    "goal_logodds": "0.5 + provider.goal_logodds - 0.5*(risk_score - 0.8)",
    "order": "verhuisd (p=0.06), else voortijdig afgebroken (p_dropout, duration halved), "
    "else doel bereikt (p_goal), else overig",
    "reentry_probability": {"voortijdig afgebroken": 0.35, "doel bereikt": 0.10, "other": 0.20},
    "reentry_gap_months": "uniform 1..9 after the end month",
    "intervention_applies_to": "new (first) trajectories only, not re-entries",
}
VERWIJZERS = np.array(["01", "02", "03", "04", "05"])
VERWIJZER_P = [0.45, 0.30, 0.08, 0.12, 0.05]
WMO_REASONS = np.array(["overleden", "geen ondersteuning meer nodig", "verhuisd", "opname Wlz", "overig"])
WMO_REASON_P = [0.2, 0.5, 0.1, 0.1, 0.1]
PART_REASONS = np.array(["werk", "verhuisd", "inkomen partner", "overig"])
PART_REASON_P = [0.45, 0.12, 0.13, 0.30]
LEEFVORM = np.array(["alleenstaande", "alleenstaande ouder", "gehuwden"])
PRODUCT_SUFFIX = np.array(["A01", "A02", "A03", "A04", "A05"])
NORM_2023 = np.array([1271.61, 1271.61, 1816.59])


def mix(x: np.ndarray, salt: int = 0) -> np.ndarray:
    """splitmix64 finaliser: a fixed pseudo-random integer per id."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15) + np.uint64(salt)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class GroupContext:
    seed: int
    years: list[int]
    out_dir: Path
    providers: list[Provider]
    interventions: list[dict]
    lat: dict[str, dict]
    demo: dict = field(default_factory=dict)  # (unit code, year) -> demographics

    @property
    def win_first(self) -> int:
        return self.years[0] * 12

    @property
    def win_last(self) -> int:
        return self.years[-1] * 12 + 11


def demographics(ctx: GroupContext, unit: Unit, year: int) -> dict:
    key = (unit.code, year)
    if key not in ctx.demo:
        ctx.demo[key] = popmod.demographics(ctx.seed, unit, ctx.lat[unit.code], year)
    return ctx.demo[key]


def _rank_in_group(sorted_keys: np.ndarray) -> np.ndarray:
    return np.arange(len(sorted_keys)) - np.searchsorted(sorted_keys, sorted_keys, side="left")


def multi_households(ctx: GroupContext, unit: Unit, year: int, d: dict) -> dict:
    rng = rng_for(ctx.seed, "multi", unit.code, year)
    m = rng.poisson(d["households"] * popmod.multi_domain_rate(d))
    b = np.repeat(np.arange(unit.n_buurten), m)
    hh = (rng.random(len(b)) * d["households"][b]).astype(np.int64)
    kind = rng.choice(4, size=len(b), p=list(popmod.MULTI_DOMAIN_MODEL["domain_sets"].values()))
    return {
        "b": b,
        "hh": hh,
        "jeugd": np.isin(kind, [0, 1, 3]),
        "wmo": np.isin(kind, [1, 2, 3]),
        "participatie": np.isin(kind, [0, 2, 3]),
    }


def assign_households(rng, b: np.ndarray, d: dict, multi: dict, domain: str) -> np.ndarray:
    """Random households of the buurt; the first cases of a buurt go to its multi-domain households."""
    hh = (rng.random(len(b)) * d["households"][b]).astype(np.int64)
    sel = multi[domain]
    mb, mhh = multi["b"][sel], multi["hh"][sel]
    if len(mb) and len(b):
        key_m = mb * 100_000 + _rank_in_group(mb)
        key_c = b * 100_000 + _rank_in_group(b)
        pos = np.minimum(np.searchsorted(key_m, key_c), len(key_m) - 1)
        found = key_m[pos] == key_c
        hh[found] = mhh[pos[found]]
    return hh


def hh_global(unit: Unit, b: np.ndarray, hh: np.ndarray) -> np.ndarray:
    return unit.hh_offset + unit.hh_start[b] + np.minimum(hh, unit.hh_capacity[b] - 1)


def adult(pid: np.ndarray, slot: np.ndarray) -> np.ndarray:
    h = mix(pid, 11)
    first = np.where(slot == 0, 1950, 1925)
    year = first + (h % np.uint64(50)).astype(np.int64)
    return _birth(year, pid)


def _birth(year: np.ndarray, pid: np.ndarray) -> np.ndarray:
    day = (mix(pid, 23) % np.uint64(365)).astype(np.int64)
    return (year - 1970).astype("datetime64[Y]").astype("datetime64[D]") + day


def sex_of(pid: np.ndarray) -> np.ndarray:
    return np.where((mix(pid, 37) >> np.uint64(7)) & np.uint64(1), "M", "V")


def child(rng, hhg: np.ndarray, start_year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A child of the household aged 0-17 at start: person id and birth date (fixed per person)."""
    base = (mix(hhg, 5) % np.uint64(30)).astype(np.int64)
    by = 1995 + (base[:, None] + 7 * np.arange(4)[None, :]) % 30
    age = start_year[:, None] - by
    ok = (age >= 0) & (age <= 17)
    pick = np.argmax(rng.random(ok.shape) * ok + ok * 1e-9, axis=1)
    pid = hhg * 6 + 2 + np.minimum(pick, 3)
    return pid, _birth(by[np.arange(len(pid)), pick], pid)


def _months(days: np.ndarray) -> np.ndarray:
    m = days.astype("datetime64[M]").astype(np.int64)
    return m + 1970 * 12


def _end_day(rng, start: np.ndarray, end_m: np.ndarray) -> np.ndarray:
    first = month_start(end_m)
    last = month_start(end_m + 1) - np.timedelta64(1, "D")
    span = (last - first).astype(np.int64) + 1
    day = first + (rng.random(len(end_m)) * span).astype(np.int64)
    return np.maximum(day, start)


def _durations(rng, means: np.ndarray) -> np.ndarray:
    return np.where(means <= 1.0, 1, np.ceil(rng.exponential(np.maximum(means, 1.0)))).astype(np.int64)


def _provider_choice(ctx: GroupContext, domain: str, rng, n: int) -> np.ndarray:
    pool = [i for i, p in enumerate(ctx.providers) if p.domain == domain]
    weights = rng_for(ctx.seed, "provider_weights", domain, ctx.providers[0].region).lognormal(0, 0.6, len(pool))
    return np.array(pool)[rng.choice(len(pool), size=n, p=weights / weights.sum())]


def _jeugd_cases(ctx, unit, year, d, multi, rng) -> dict:
    n = rng.poisson(d["youth"] * popmod.jeugd_rate(d, year))
    b = np.repeat(np.arange(unit.n_buurten), n)
    start = np.datetime64(f"{year}-01-01") + (rng.random(len(b)) * 365).astype(np.int64)
    keep = np.ones(len(b), dtype=bool)
    u = rng.random(len(b))
    for item in ctx.interventions:
        if item["unit"] != unit.code:
            continue
        hit = (unit.bu_wijk[b] == item["wijk_index"]) & (start >= np.datetime64(item["start"]))
        keep &= ~(hit & (u >= item["multiplier"]))
    b, start = b[keep], start[keep]
    hh = assign_households(rng, b, d, multi, "jeugd")
    hhg = hh_global(unit, b, hh)
    pid, birth = child(rng, hhg, np.full(len(b), year))
    start = np.maximum(start, birth)
    cases = {"b": b, "hh": hh, "hhg": hhg, "pid": pid, "birth": birth, "start": start}
    return _jeugd_details(ctx, rng, cases, d["risk_score"][b])


def _jeugd_details(ctx, rng, cases: dict, risk: np.ndarray) -> dict:
    n = len(cases["b"])
    cats = np.array(list(JEUGD_PRODUCTS))
    spec = np.array(list(JEUGD_PRODUCTS.values()), dtype=object)
    ci = rng.choice(len(cats), size=n, p=[s[0] for s in spec])
    means = np.array([s[1] for s in spec], dtype=float)[ci]
    dur = _durations(rng, means)
    prov = _provider_choice(ctx, "jeugd", rng, n)
    goal_eff = np.array([p.goal_logodds for p in ctx.providers])[prov]
    drop_eff = np.array([p.dropout_logodds for p in ctx.providers])[prov]
    u1, u2, u3 = rng.random(n), rng.random(n), rng.random(n)
    moved = u1 < 0.06
    dropped = ~moved & (u2 < expit(-1.8 + drop_eff + 0.3 * (risk - 0.8)))
    goal = ~moved & ~dropped & (u3 < expit(0.5 + goal_eff - 0.5 * (risk - 0.8)))
    reason = np.where(
        moved, "verhuisd", np.where(dropped, "voortijdig afgebroken", np.where(goal, "doel bereikt", "overig"))
    )
    dur = np.where(dropped, np.maximum(1, np.ceil(dur * 0.5)), dur).astype(np.int64)
    start_m = _months(cases["start"])
    end_m = start_m + dur - 1
    cases.update(
        cat=cats[ci],
        ci=ci,
        product=np.strings.add(cats[ci], PRODUCT_SUFFIX[rng.integers(0, 5, n)]),
        prov=prov,
        start_m=start_m,
        end_m=end_m,
        end=_end_day(rng, cases["start"], end_m),
        reason=reason,
        goal=np.where(goal, "ja", "nee"),
        volume=np.round(np.array([s[4] for s in spec], dtype=float)[ci] * rng.uniform(0.6, 1.4, n), 1),
        verwijzer=VERWIJZERS[rng.choice(len(VERWIJZERS), size=n, p=VERWIJZER_P)],
        risk=risk,
    )
    cases["volume"] = np.where(np.isin(cases["cat"], ["47", "48", "50"]), 1.0, cases["volume"])
    return cases


def _reentries(ctx, unit, year, first: dict, rng) -> dict:
    p = np.where(
        first["reason"] == "voortijdig afgebroken", 0.35, np.where(first["reason"] == "doel bereikt", 0.10, 0.20)
    )
    again = (rng.random(len(p)) < p) & (first["reason"] != "verhuisd")
    start = month_start(first["end_m"][again] + rng.integers(1, 10, again.sum())) + rng.integers(0, 28, again.sum())
    age_ok = (start - first["birth"][again]).astype(np.int64) < 18 * 365
    idx = np.flatnonzero(again)[age_ok]
    cases = {k: first[k][idx] for k in ("b", "hh", "hhg", "pid", "birth")}
    cases["start"] = start[age_ok]
    return _jeugd_details(ctx, rng, cases, first["risk"][idx])


def _concat(parts: list[dict]) -> dict:
    parts = [p for p in parts if len(p["b"])]
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def jeugd_for_unit(ctx: GroupContext, unit: Unit) -> dict:
    parts = []
    for year in range(ctx.years[0] - BURN_IN["jeugd"], ctx.years[-1] + 1):
        d = demographics(ctx, unit, year)
        multi = multi_households(ctx, unit, year, d)
        rng = rng_for(ctx.seed, "jeugd", unit.code, year)
        first = _jeugd_cases(ctx, unit, year, d, multi, rng)
        again = _reentries(ctx, unit, year, first, rng)
        for part, kind in ((first, 0), (again, 1)):
            part["year"] = np.full(len(part["b"]), year)
            part["seq"] = np.arange(len(part["b"])) + kind * 500_000
        parts += [first, again]
    cases = _concat(parts)
    if cases:
        cases["id"] = _ids("J", unit, cases["year"], cases["seq"])
    return cases


def _ids(prefix: str, unit: Unit, year: np.ndarray, seq: np.ndarray) -> np.ndarray:
    head = np.char.add(f"{prefix}{unit.code[2:]}", np.char.zfill((year % 100).astype(str), 2))
    return np.char.add(head, np.char.zfill(seq.astype(str), 6))


def wmo_for_unit(ctx: GroupContext, unit: Unit) -> dict:
    parts = []
    cats = np.array(list(WMO_PRODUCTS))
    spec = list(WMO_PRODUCTS.values())
    for year in range(ctx.years[0] - BURN_IN["wmo"], ctx.years[-1] + 1):
        d = demographics(ctx, unit, year)
        multi = multi_households(ctx, unit, year, d)
        rng = rng_for(ctx.seed, "wmo", unit.code, year)
        n = rng.poisson(d["pop"] * popmod.wmo_rate(d))
        b = np.repeat(np.arange(unit.n_buurten), n)
        k = len(b)
        hh = assign_households(rng, b, d, multi, "wmo")
        hhg = hh_global(unit, b, hh)
        slot = np.where(rng.random(k) < 0.7, 1, 0)
        pid = hhg * 6 + slot
        start = np.datetime64(f"{year}-01-01") + (rng.random(k) * 365).astype(np.int64)
        ci = rng.choice(len(cats), size=k, p=[s[0] for s in spec])
        dur = _durations(rng, np.array([s[1] for s in spec])[ci])
        start_m = _months(start)
        pgb = rng.random(k) < 0.10
        parts.append(
            {
                "b": b,
                "hh": hh,
                "hhg": hhg,
                "pid": pid,
                "birth": adult(pid, slot),
                "start": start,
                "start_m": start_m,
                "end_m": start_m + dur - 1,
                "end": _end_day(rng, start, start_m + dur - 1),
                "cat": cats[ci],
                "ci": ci,
                "product": np.strings.add(cats[ci], PRODUCT_SUFFIX[rng.integers(0, 3, k)]),
                "prov": _provider_choice(ctx, "wmo", rng, k),
                "pgb": pgb,
                "reason": WMO_REASONS[rng.choice(len(WMO_REASONS), size=k, p=WMO_REASON_P)],
                "volume": np.round(np.array([s[4] for s in spec])[ci] * rng.uniform(0.6, 1.4, k), 1),
                "year": np.full(k, year),
                "seq": np.arange(k),
            }
        )
        parts[-1]["volume"] = np.where(np.isin(cats[ci], ["11", "13"]), 1.0, parts[-1]["volume"])
    cases = _concat(parts)
    if cases:
        cases["id"] = _ids("W", unit, cases["year"], cases["seq"])
    return cases


def participatie_for_unit(ctx: GroupContext, unit: Unit) -> dict:
    parts = []
    for year in range(ctx.years[0] - BURN_IN["participatie"], ctx.years[-1] + 1):
        d = demographics(ctx, unit, year)
        multi = multi_households(ctx, unit, year, d)
        rng = rng_for(ctx.seed, "participatie", unit.code, year)
        n = rng.poisson(d["households"] * popmod.participatie_rate(d))
        b = np.repeat(np.arange(unit.n_buurten), n)
        k = len(b)
        hh = assign_households(rng, b, d, multi, "participatie")
        hhg = hh_global(unit, b, hh)
        pid = hhg * 6
        start = np.datetime64(f"{year}-01-01") + (rng.random(k) * 365).astype(np.int64)
        dur = np.ceil(rng.exponential(30.0, k)).astype(np.int64)
        p_parent = np.clip(0.6 * d["x_with_kids"][b], 0.05, 0.5)
        u = rng.random(k)
        lv = np.where(u < p_parent, 1, np.where(u < p_parent + 0.25, 2, 0))
        start_m = _months(start)
        factor = np.where(rng.random(k) < 0.8, 1.0, rng.uniform(0.5, 0.95, k))
        parts.append(
            {
                "b": b,
                "hh": hh,
                "hhg": hhg,
                "pid": pid,
                "birth": adult(pid, np.zeros(k, int)),
                "start": start,
                "start_m": start_m,
                "end_m": start_m + dur - 1,
                "end": _end_day(rng, start, start_m + dur - 1),
                "lv": lv,
                "factor": factor,
                "reason": PART_REASONS[rng.choice(len(PART_REASONS), size=k, p=PART_REASON_P)],
                "year": np.full(k, year),
                "seq": np.arange(k),
            }
        )
    cases = _concat(parts)
    if cases:
        cases["id"] = _ids("P", unit, cases["year"], cases["seq"])
    return cases


def expand(ctx: GroupContext, cases: dict) -> tuple[np.ndarray, np.ndarray]:
    """Row per case per active month inside the window: (case index, month index)."""
    if not cases:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo = np.maximum(cases["start_m"], ctx.win_first)
    hi = np.minimum(cases["end_m"], ctx.win_last)
    count = np.maximum(hi - lo + 1, 0)
    idx = np.repeat(np.arange(len(lo)), count)
    offsets = np.concatenate([[0], np.cumsum(count)[:-1]])
    month = lo[idx] + (np.arange(len(idx)) - offsets[idx])
    return idx, month


@dataclass
class DomainRows:
    unit: Unit
    cases: dict
    idx: np.ndarray
    month: np.ndarray


def _common_columns(unit: Unit, r: DomainRows, last: np.ndarray) -> dict:
    c, i = r.cases, r.idx
    gm = unit.gemeente_by_month(r.month)
    postcode, number = address_of(unit, c["b"][i], c["hh"][i])
    return {
        "gemeentecode": gm,
        "periode": month_label(r.month),
        "_id": c["id"][i],
        "bsn": bsn_from_ids(c["pid"][i]),
        "geboortedatum": dmy(c["birth"][i]),
        "geslacht": sex_of(c["pid"][i]),
        "postcode": postcode,
        "huisnummer": number,
        "_start": dmy(c["start"][i]),
        "_end": np.where(last, dmy(c["end"][i]), ""),
    }


def _last_flags(ctx: GroupContext, r: DomainRows) -> np.ndarray:
    return (r.month == r.cases["end_m"][r.idx]) & (r.cases["end_m"][r.idx] <= ctx.win_last)


def jeugd_frame(ctx: GroupContext, r: DomainRows) -> dict:
    c, i = r.cases, r.idx
    last = _last_flags(ctx, r)
    base = _common_columns(r.unit, r, last)
    spec = list(JEUGD_PRODUCTS.values())
    factor = np.array([p.tariff_factor for p in ctx.providers])[c["prov"][i]]
    base_tariff = np.array([s[3] for s in spec])[c["ci"][i]]
    tarief = np.round(base_tariff * factor * 1.03 ** (r.month // 12 - 2020), 2)
    volume = c["volume"][i]
    return _columns(
        {
            "gemeentecode": base["gemeentecode"],
            "periode": base["periode"],
            "trajectnummer": base["_id"],
            "bsn": base["bsn"],
            "geboortedatum": base["geboortedatum"],
            "geslacht": base["geslacht"],
            "postcode": base["postcode"],
            "huisnummer": base["huisnummer"],
            "verwijzer": c["verwijzer"][i],
            "productcategorie": c["cat"][i],
            "productcode": c["product"][i],
            "agb_code": np.array([p.agb for p in ctx.providers])[c["prov"][i]],
            "aanbieder": np.array([p.name for p in ctx.providers])[c["prov"][i]],
            "startdatum": base["_start"],
            "einddatum": base["_end"],
            "reden_beeindiging": np.where(last, c["reason"][i], ""),
            "doel_bereikt": np.where(last, c["goal"][i], ""),
            "eenheid": np.array([s[2] for s in spec])[c["ci"][i]],
            "volume": volume,
            "tarief": tarief,
            "bedrag": np.round(volume * tarief, 2),
        }
    )


def wmo_frame(ctx: GroupContext, r: DomainRows) -> dict:
    c, i = r.cases, r.idx
    last = _last_flags(ctx, r)
    base = _common_columns(r.unit, r, last)
    spec = list(WMO_PRODUCTS.values())
    factor = np.array([p.tariff_factor for p in ctx.providers])[c["prov"][i]]
    tarief = np.round(np.array([s[3] for s in spec])[c["ci"][i]] * factor * 1.03 ** (r.month // 12 - 2020), 2)
    volume = c["volume"][i]
    pgb = c["pgb"][i]
    return _columns(
        {
            "gemeentecode": base["gemeentecode"],
            "periode": base["periode"],
            "voorzieningnummer": base["_id"],
            "bsn": base["bsn"],
            "geboortedatum": base["geboortedatum"],
            "geslacht": base["geslacht"],
            "postcode": base["postcode"],
            "huisnummer": base["huisnummer"],
            "productcategorie": c["cat"][i],
            "productcode": c["product"][i],
            "leveringsvorm": np.where(pgb, "PGB", "ZIN"),
            "agb_code": np.where(pgb, "", np.array([p.agb for p in ctx.providers])[c["prov"][i]]),
            "aanbieder": np.where(pgb, "", np.array([p.name for p in ctx.providers])[c["prov"][i]]),
            "startdatum": base["_start"],
            "einddatum": base["_end"],
            "reden_beeindiging": np.where(last, c["reason"][i], ""),
            "eenheid": np.array([s[2] for s in spec])[c["ci"][i]],
            "volume": volume,
            "tarief": tarief,
            "bedrag": np.round(volume * tarief, 2),
        }
    )


def participatie_frame(ctx: GroupContext, r: DomainRows) -> dict:
    c, i = r.cases, r.idx
    last = _last_flags(ctx, r)
    base = _common_columns(r.unit, r, last)
    lv = c["lv"][i]
    amount = np.round(NORM_2023[lv] * 1.03 ** (r.month // 12 - 2023) * c["factor"][i], 2)
    return _columns(
        {
            "gemeentecode": base["gemeentecode"],
            "periode": base["periode"],
            "uitkeringsnummer": base["_id"],
            "bsn": base["bsn"],
            "geboortedatum": base["geboortedatum"],
            "geslacht": base["geslacht"],
            "postcode": base["postcode"],
            "huisnummer": base["huisnummer"],
            "regeling": np.full(len(i), "Participatiewet"),
            "leefvorm": LEEFVORM[lv],
            "startdatum": base["_start"],
            "einddatum": base["_end"],
            "reden_beeindiging": np.where(last, c["reason"][i], ""),
            "bedrag_uitkering": amount,
        }
    )


MONEY = ("volume", "tarief", "bedrag", "bedrag_uitkering")


def _columns(cols: dict) -> dict:
    """Numeric money columns stay numeric here (summed for budgets); formatted when written."""
    out = {}
    for k, v in cols.items():
        v = np.asarray(v)
        out[k] = v.astype(str) if v.dtype == object else v
    return out


def concat_columns(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def write_monthly(cols: dict, folder: Path, prefix: str, id_column: str) -> int:
    """One file per gemeentecode × periode; rows sorted by case number."""
    n = len(cols["gemeentecode"])
    if not n:
        return 0
    order = np.lexsort((cols[id_column], cols["periode"], cols["gemeentecode"]))
    arrays = {}
    for k, v in cols.items():
        v = v[order]
        if k in MONEY:
            v = dutch_money(v)
        arrays[k] = pa.array(v)
        if not pa.types.is_string(arrays[k].type):
            arrays[k] = pc.cast(arrays[k], pa.string())
    table = pa.table(arrays)
    keys = np.strings.add(np.strings.add(cols["gemeentecode"][order], "_"), cols["periode"][order])
    bounds = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [n]])
    for s, e in zip(starts, ends, strict=True):
        write_table(table.slice(int(s), int(e - s)), folder / f"{prefix}_{keys[s]}.csv")
    return len(starts)
