"""Deterministic synthetic generator of every MMR source in its delivered format.

`generate(scale, seed, out_dir, truth_path)` writes one folder per source under `out_dir`
(the landing folder names) and the planted truth to `truth_path` (read only by tests):

| folder | files |
|---|---|
| `cbs_kwb/` | `kwb_<year>.csv` (StatLine typed dataset, see `cbs.py`) |
| `cbs_wijk_zorg/` | `wijk_zorg_<year>.csv` (see `cbs.py`) |
| `vektis_zvw/` | `vektis_zvw_gemeente_<year>.csv`, `vektis_zvw_postcode3_<year>.csv` (see `vektis.py`) |
| `gemeente_{jeugd,wmo,participatie}/` | `<domain>_<GMcode>_<yyyy-mm>.csv` (see `municipal.py`) |
| `clientervaring/` | `clientervaring_<GMcode>_<year>.csv` (see `survey.py`) |
| `budgetten/`, `contracten/`, `interventies/` | see `finance.py` |
| `gebieden/` | `gemeenten_<year>.geojson`, `wijken_<year>.geojson`, `buurten_<year>.geojson` (WGS84; properties
  code, name, level, gemeente_code, year, and wijk_code for buurten) and `pc6_gwb_<year>.csv`
  (`PC6;Buurt<year>;Wijk<year>;Gemeente<year>`: every postcode-6 of the addresses in the municipal
  exports with its buurt, like CBS' postcode-6 to buurt file) |

Scales: `demo` is ten real gemeenten around Voorne-Putten (2022-2024, with the Voorne aan Zee
merger and a wijk split); `national` is every gemeente of the 2022 division (2015-2024). Work is
streamed per gemeente (a merging group is processed together) and per year, so memory stays
bounded. Every random draw is seeded by (seed, gemeente, year, purpose): the same seed gives
byte-identical files, another seed different data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import cbs, finance, municipal, survey, vektis
from . import population as popmod
from .common import DEMO_GEMEENTEN, MERGER, POSTCODE_LETTERS, RECODE, SCALES, rng_for
from .geography import Unit, build_units, codes_for, geometry_json
from .writers import dmy, write_municipal, write_plain

SOURCES = [
    "cbs_kwb",
    "cbs_wijk_zorg",
    "vektis_zvw",
    "gemeente_jeugd",
    "gemeente_wmo",
    "gemeente_participatie",
    "clientervaring",
    "budgetten",
    "contracten",
    "interventies",
    "gebieden",
]
__all__ = ["SOURCES", "generate"]


def _clean(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_file() and path.suffix in (".csv", ".geojson"):
            path.unlink()


def delivery_groups(units: list[Unit]) -> list[list[Unit]]:
    """Units that share a gemeente code in some period are generated together (they share files)."""
    parent = {u.code: u.code for u in units}

    def root(code: str) -> str:
        while parent[code] != code:
            code = parent[code]
        return code

    owner: dict[str, str] = {}
    for unit in units:
        for era in unit.eras:
            parent[root(unit.code)] = root(owner.setdefault(era.code, unit.code))
    groups: dict[str, list[Unit]] = {}
    for unit in sorted(units, key=lambda u: u.code):
        groups.setdefault(root(unit.code), []).append(unit)
    return sorted(groups.values(), key=lambda g: g[0].code)


class _Counter:
    def __init__(self) -> None:
        self.rows = dict.fromkeys(SOURCES, 0)
        self.files = dict.fromkeys(SOURCES, 0)

    def add(self, source: str, rows: int, files: int = 1) -> None:
        self.rows[source] += int(rows)
        self.files[source] += int(files)


def generate(scale: str, seed: int, out_dir: Path | None, truth_path: Path | None, progress: bool = True) -> dict:
    """Generate every source at `scale` ('demo' or 'national') and return {source: rows}.

    `out_dir` gets one sub-folder per source (CSV/GeoJSON files of an earlier run in those
    sub-folders are removed first); `truth_path` receives the planted truth as JSON. `None` means
    the settings' landing folder and `<generator_dir>/truth.json`.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}")
    if out_dir is None or truth_path is None:
        from dagster_project.settings import get_settings

        settings = get_settings()
        out_dir = settings.landing_dir if out_dir is None else out_dir
        truth_path = settings.generator_dir / "truth.json" if truth_path is None else truth_path
    cfg = SCALES[scale]
    years = cfg.years
    out_dir = Path(out_dir)
    for source in SOURCES:
        _clean(out_dir / source)
    counter = _Counter()

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(f"areas ({scale})", total=None)
        units = build_units(seed, cfg.gemeenten)
        lat = {u.code: popmod.latent(seed, u) for u in units}
        regions = finance.build_providers(seed, units)
        interventions = finance.plan_interventions(seed, units, lat, years, set(DEMO_GEMEENTEN))
        _write_gebieden(units, years, out_dir / "gebieden", counter)
        groups = delivery_groups(units)
        bar.update(task, total=len(groups), completed=0, description=f"gemeenten ({scale})")

        buurt_tables: dict[int, list[pd.DataFrame]] = {y: [] for y in years}
        realised: list[dict] = []
        multi_counts = {y: {"1": 0, "2": 0, "3": 0} for y in years}
        for group in groups:
            ctx = municipal.GroupContext(seed, years, out_dir, regions[group[0].region], interventions, lat)
            _process_group(ctx, group, counter, buurt_tables, realised, multi_counts)
            bar.advance(task)

        bar.update(task, description="CBS, Vektis, finance")
        for year in years:
            buurten = pd.concat(buurt_tables[year], ignore_index=True)
            counter.add("cbs_kwb", cbs.write_kwb(buurten, out_dir / "cbs_kwb" / f"kwb_{year}.csv", year))
            counter.add(
                "cbs_wijk_zorg", cbs.write_wijk_zorg(buurten, year, out_dir / "cbs_wijk_zorg" / f"wijk_zorg_{year}.csv")
            )
            _write_vektis(seed, buurten, year, out_dir / "vektis_zvw", counter)
        _write_contracts(regions, units, years, out_dir / "contracten", counter)
        _write_budgets(seed, realised, years, out_dir / "budgetten", counter)
        _write_interventions(interventions, units, out_dir / "interventies", counter)

    truth = _truth(scale, seed, years, units, regions, interventions, multi_counts, counter)
    truth_path = Path(truth_path)
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_text(json.dumps(truth, indent=1, ensure_ascii=False), encoding="utf-8")
    return dict(counter.rows)


def _distinct(
    cases: dict,
    idx: np.ndarray,
    month: np.ndarray,
    first_year: int,
    n_b: int,
    n_y: int,
    mask: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """Distinct persons per (buurt, year) among active rows; optional per-case weight."""
    out = np.zeros((n_b, n_y))
    if not len(idx):
        return out
    if mask is not None:
        keep = mask[idx]
        idx, month = idx[keep], month[keep]
    yi = month // 12 - first_year
    key = ((cases["b"][idx] * 16 + yi) << 27) | cases["pid"][idx]
    uniq, first = np.unique(key, return_index=True)
    cell = uniq >> 27
    w = np.ones(len(uniq)) if weight is None else weight[idx[first]]
    np.add.at(out.reshape(-1), (cell // 16) * n_y + (cell % 16), w)
    return out


def _process_group(ctx, group, counter, buurt_tables, realised, multi_counts) -> None:
    years = ctx.years
    n_y = len(years)
    domains = {
        "jeugd": (municipal.jeugd_for_unit, municipal.jeugd_frame, "trajectnummer", "bedrag"),
        "wmo": (municipal.wmo_for_unit, municipal.wmo_frame, "voorzieningnummer", "bedrag"),
        "participatie": (
            municipal.participatie_for_unit,
            municipal.participatie_frame,
            "uitkeringsnummer",
            "bedrag_uitkering",
        ),
    }
    stats = {u.code: {} for u in group}
    households = {y: [] for y in years}
    cases_by = {}
    for domain, (make, frame_fn, id_col, money) in domains.items():
        rows_by_unit = []
        for unit in group:
            cases = make(ctx, unit)
            idx, month = municipal.expand(ctx, cases)
            cases_by[(domain, unit.code)] = cases
            rows_by_unit.append((unit, cases, idx, month))
            nb = unit.n_buurten
            if domain == "jeugd":
                stats[unit.code]["jeugd_clients"] = _distinct(cases, idx, month, years[0], nb, n_y)
                verblijf = np.isin(cases["cat"], ["43", "44"]) if cases else None
                stats[unit.code]["jeugd_verblijf"] = _distinct(cases, idx, month, years[0], nb, n_y, verblijf)
            elif domain == "wmo":
                stats[unit.code]["wmo_clients"] = _distinct(cases, idx, month, years[0], nb, n_y)
            else:
                weight = np.where(cases["lv"] == 2, 2.0, 1.0) if cases else None
                stats[unit.code]["bijstand_persons"] = _distinct(cases, idx, month, years[0], nb, n_y, None, weight)
            if len(idx):
                hh_year = np.unique((cases["hhg"][idx] << 5) | (month // 12 - years[0]))
                for yi, y in enumerate(years):
                    households[y].append(hh_year[(hh_year & 31) == yi] >> 5)
        folder = ctx.out_dir / f"gemeente_{domain}"
        for year in years:
            frames = []
            for unit, cases, idx, month in rows_by_unit:
                sel = (month // 12) == year
                if sel.any():
                    frames.append(frame_fn(ctx, municipal.DomainRows(unit, cases, idx[sel], month[sel])))
            if not frames:
                continue
            cols = municipal.concat_columns(frames)
            for gm in np.unique(cols["gemeentecode"]):
                amount = float(cols[money][cols["gemeentecode"] == gm].sum())
                realised.append({"gm": str(gm), "year": year, "domain": domain, "amount": amount})
            files = municipal.write_monthly(cols, folder, domain, id_col)
            counter.add(f"gemeente_{domain}", len(cols["gemeentecode"]), files)
            del cols, frames

    for year in years:
        if households[year]:
            # each domain contributes a household at most once per year
            allhh = np.concatenate(households[year])
            _, n = np.unique(allhh, return_counts=True)
            for k in (1, 2, 3):
                multi_counts[year][str(k)] += int((n == k).sum())

    # survey per gemeente-year
    for year in years:
        frames = []
        for unit in group:
            for domain in ("jeugd", "wmo"):
                part = survey.respondents(
                    ctx.seed, unit.code, year, domain, cases_by[(domain, unit.code)], ctx.providers
                )
                if len(part):
                    part.insert(1, "gemeentecode", unit.gemeente_in(year))
                    frames.append(part)
        if frames:
            frame = pd.concat(frames, ignore_index=True)
            for gm, part in frame.groupby("gemeentecode", sort=True):
                write_plain(part, ctx.out_dir / "clientervaring" / f"clientervaring_{gm}_{year}.csv")
                counter.add("clientervaring", len(part))

    # buurt table per year for CBS and Vektis
    for unit in group:
        dekking_rng = rng_for(ctx.seed, "dekking", unit.code)
        dekking = dekking_rng.choice(np.arange(1, 7), size=unit.n_buurten, p=[0.55, 0.2, 0.1, 0.07, 0.05, 0.03])
        for yi, year in enumerate(years):
            d = municipal.demographics(ctx, unit, year)
            codes = codes_for(unit, year)
            table = pd.DataFrame({k: d[k] for k in cbs.SUM_COLUMNS if k in d})
            table["youth"] = d["youth"]
            for key in ("jeugd_clients", "jeugd_verblijf", "wmo_clients", "bijstand_persons"):
                table[key] = stats[unit.code][key][:, yi].astype(np.int64)
            table["area_km2"] = unit.bu_area_km2
            table["income"] = d["income"]
            table["low_income"] = d["low_income"]
            table["gm_code"] = codes.gm_code
            table["gm_name"] = codes.gm_name
            table["wk_code"] = codes.wk_code
            table["bu_code"] = codes.bu_code
            table["pc4"] = unit.wijk_pc4[unit.bu_wijk]
            table["dekking"] = dekking
            buurt_tables[year].append(table)


def _write_gebieden(units, years, folder: Path, counter: _Counter) -> None:
    import shapely

    geo = {}
    for unit in units:
        for w, g in enumerate(unit.wijk_geoms):
            geo[("wk", unit.code, w)] = g
    text_cache: dict = {}

    def text(key, geom) -> str:
        if key not in text_cache:
            text_cache[key] = geometry_json(geom)
        return text_cache[key]

    for year in years:
        feats = {"gemeenten": [], "wijken": [], "buurten": []}
        sharing: dict[str, list[Unit]] = {}
        for unit in sorted(units, key=lambda u: u.code):
            sharing.setdefault(unit.gemeente_in(year), []).append(unit)
        for unit in sorted(units, key=lambda u: u.code):
            codes = codes_for(unit, year)
            parts = sharing[codes.gm_code]
            if parts[0] is unit:
                key = ("gm", *(u.code for u in parts))
                geom = parts[0].geom if len(parts) == 1 else shapely.union_all([u.geom for u in parts])
                feats["gemeenten"].append(
                    _feature(codes.gm_code, codes.gm_name, "gemeente", codes.gm_code, year, text(key, geom))
                )
            recoded = unit.code == RECODE["gemeente"] and year >= RECODE["year"]
            for wcode in sorted(set(codes.wk_code.tolist())):
                members = np.flatnonzero(codes.wk_code == wcode)
                w_unit = int(unit.bu_wijk[members[0]])
                if recoded and w_unit == 0:
                    key = ("wk_split", unit.code, wcode)
                    geom = shapely.union_all([unit.bu_geoms[i] for i in members])
                else:
                    key, geom = ("wk", unit.code, w_unit), geo[("wk", unit.code, w_unit)]
                name = f"Wijk {wcode[-2:]} {codes.gm_name}"
                feats["wijken"].append(_feature(wcode, name, "wijk", codes.gm_code, year, text(key, geom)))
            for i in np.argsort(codes.bu_code, kind="stable"):
                feats["buurten"].append(
                    _feature(
                        str(codes.bu_code[i]),
                        unit.bu_names[i],
                        "buurt",
                        codes.gm_code,
                        year,
                        text(("bu", unit.code, int(i)), unit.bu_geoms[i]),
                        wijk=str(codes.wk_code[i]),
                    )
                )
        _write_pc6(units, year, folder / f"pc6_gwb_{year}.csv", counter)
        for level, items in feats.items():
            body = '{"type":"FeatureCollection","features":[\n' + ",\n".join(items) + "\n]}\n"
            (folder / f"{level}_{year}.geojson").write_text(body, encoding="utf-8")
            counter.add("gebieden", len(items))


def _write_pc6(units, year: int, path: Path, counter: _Counter) -> None:
    """Postcode-6 to buurt, wijk and gemeente (like CBS' pc6-gwb<year> file)."""
    parts = []
    letters = POSTCODE_LETTERS
    for unit in sorted(units, key=lambda u: u.code):
        codes = codes_for(unit, year)
        b = np.repeat(np.arange(unit.n_buurten), unit.bu_pair_count)
        offset = np.arange(len(b)) - np.repeat(np.cumsum(unit.bu_pair_count) - unit.bu_pair_count, unit.bu_pair_count)
        pair = (unit.bu_pair_start[b] + offset) % (len(letters) ** 2)
        pc6 = np.strings.add(
            unit.wijk_pc4[unit.bu_wijk[b]].astype(str),
            np.strings.add(letters[pair // len(letters)], letters[pair % len(letters)]),
        )
        parts.append(
            pd.DataFrame(
                {
                    "PC6": pc6,
                    f"Buurt{year}": codes.bu_code[b],
                    f"Wijk{year}": codes.wk_code[b],
                    f"Gemeente{year}": codes.gm_code,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True).sort_values("PC6", kind="stable")
    write_plain(frame, path)
    counter.add("gebieden", len(frame))


def _feature(code, name, level, gm_code, year, geometry_text, wijk: str | None = None) -> str:
    props = {"code": code, "name": name, "level": level, "gemeente_code": gm_code, "year": year}
    if wijk:
        props["wijk_code"] = wijk
    return (
        '{"type":"Feature","properties":' + json.dumps(props, ensure_ascii=False) + ',"geometry":' + geometry_text + "}"
    )


def _write_vektis(seed: int, buurten: pd.DataFrame, year: int, folder: Path, counter: _Counter) -> None:
    frame = buurten.assign(low_w=buurten["low_income"] * buurten["households"], pc3=buurten["pc4"] // 10)
    if year >= 2022:  # Vektis' later division: the gemeenten of the merger listed as the new one
        merged = frame["gm_code"].isin(MERGER["old"])
        frame.loc[merged, "gm_code"] = MERGER["new"]
        frame.loc[merged, "gm_name"] = MERGER["new_name"]
    bands = list(vektis._SPLIT)
    for level, key, column in (("gemeente", "gm_code", "GEMEENTENAAM"), ("postcode3", "pc3", "POSTCODE_3")):
        agg = frame.groupby(key, sort=True).agg(
            {
                **{b: "sum" for b in bands},
                "pop": "sum",
                "men": "sum",
                "households": "sum",
                "low_w": "sum",
                "gm_name": "first",
            }
        )
        parts = []
        for k, row in agg.iterrows():
            label = row["gm_name"].upper() if level == "gemeente" else f"{int(k):03d}"
            parts.append(
                vektis.rows_for(
                    seed,
                    f"{level}{k}",
                    year,
                    column,
                    label,
                    vektis.class_counts(row),
                    row["men"] / max(row["pop"], 1),
                    row["low_w"] / max(row["households"], 1) / 100,
                )
            )
        out = pd.concat(parts, ignore_index=True)
        write_plain(vektis.published(out, year), folder / f"vektis_zvw_{level}_{year}.csv")
        counter.add("vektis_zvw", len(out))


def _write_contracts(regions, units, years, folder: Path, counter: _Counter) -> None:
    gm_by_year = {}
    for year in years:
        rows = []
        for unit in sorted(units, key=lambda u: u.code):
            gm = unit.gemeente_in(year)
            if (gm, year) in gm_by_year:
                continue
            gm_by_year[(gm, year)] = unit.region
            providers = regions[unit.region]
            for p in providers:
                products = finance.JEUGD_PRODUCTS if p.domain == "jeugd" else finance.WMO_PRODUCTS
                for cat, spec in products.items():
                    for n in range(1, 4):
                        rows.append(
                            (
                                gm,
                                year,
                                p.domain,
                                p.agb,
                                p.name,
                                cat,
                                f"{cat}A{n:02d}",
                                spec[2],
                                finance.tariff(spec[3], p.tariff_factor, year),
                            )
                        )
        frame = pd.DataFrame(
            rows,
            columns=[
                "gemeentecode",
                "jaar",
                "domein",
                "agb_code",
                "aanbieder",
                "productcategorie",
                "productcode",
                "eenheid",
                "tarief",
            ],
        )
        frame["ingangsdatum"] = f"01-01-{year}"
        frame["einddatum"] = f"31-12-{year}"
        write_municipal(frame, folder / f"contracten_{year}.csv")
        counter.add("contracten", len(frame))


def _write_budgets(seed: int, realised: list[dict], years, folder: Path, counter: _Counter) -> None:
    frame = pd.DataFrame(realised).groupby(["gm", "year", "domain"], as_index=False)["amount"].sum()
    for year in years:
        part = frame[frame["year"] == year].sort_values(["gm", "domain"]).reset_index(drop=True)
        rng = rng_for(seed, "budget", year)
        primary = np.round(part["amount"].to_numpy() * rng.normal(0.95, 0.05, len(part)), -3)
        amended = np.round(part["amount"].to_numpy() * rng.normal(1.0, 0.03, len(part)), -3)
        out = pd.DataFrame(
            {
                "gemeentecode": part["gm"],
                "jaar": year,
                "domein": part["domain"],
                "begroting_primair": primary,
                "begroting_na_wijziging": amended,
            }
        )
        write_municipal(out, folder / f"budgetten_{year}.csv")
        counter.add("budgetten", len(out))


def _write_interventions(interventions, units, folder: Path, counter: _Counter) -> None:
    by_code = {u.code: u for u in units}
    rows = []
    for item in interventions:
        unit = by_code[item["unit"]]
        year = int(item["start"][:4])
        codes = codes_for(unit, year)
        wk = codes.wk_code[np.flatnonzero(unit.bu_wijk == item["wijk_index"])[0]]
        item["gemeente_code"] = codes.gm_code
        item["wijk_code"] = str(wk)
        rows.append(
            {
                "interventie_id": item["id"],
                "gemeentecode": codes.gm_code,
                "wijkcode": str(wk),
                "interventie_type": item["type"],
                "doelgroep": "jeugd",
                "startdatum": dmy(np.array([item["start"]], dtype="datetime64[D]"))[0],
                "einddatum": "",
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "interventie_id",
            "gemeentecode",
            "wijkcode",
            "interventie_type",
            "doelgroep",
            "startdatum",
            "einddatum",
        ],
    )
    write_municipal(frame, folder / "interventies.csv")
    counter.add("interventies", len(frame))


def _over_users(seed: int, units, years) -> list[dict]:
    """The planted over-using wijken with their codes per year (codes change with the merger)."""
    out = []
    for unit in sorted(units, key=lambda u: u.code):
        wijk = popmod.over_use_wijk(seed, unit)
        if wijk is None:
            continue
        first = np.flatnonzero(unit.bu_wijk == wijk)[0]
        codes = {str(y): str(codes_for(unit, y).wk_code[first]) for y in years}
        gemeenten = {str(y): unit.gemeente_in(y) for y in years}
        out.append(
            {
                "unit": unit.code,
                "wijk_index": wijk,
                "multiplier": popmod.OVER_USE["multiplier"],
                "wijk_codes": codes,
                "gemeente_codes": gemeenten,
            }
        )
    return out


def _truth(scale, seed, years, units, regions, interventions, multi_counts, counter) -> dict:
    merged = [u for u in units if u.code in MERGER["old"]]
    merger_map = {}
    for unit in merged:
        before = codes_for(unit, MERGER["year"] - 1)
        after = codes_for(unit, MERGER["year"])
        merger_map.update(dict(zip(before.wk_code.tolist(), after.wk_code.tolist(), strict=True)))
        merger_map.update(dict(zip(before.bu_code.tolist(), after.bu_code.tolist(), strict=True)))
    recode = {}
    for unit in units:
        if unit.code == RECODE["gemeente"]:
            before = codes_for(unit, RECODE["year"] - 1)
            after = codes_for(unit, RECODE["year"])
            split = unit.bu_wijk == 0
            recode = {
                "gemeente": unit.code,
                "year": RECODE["year"],
                "date": f"{RECODE['year']}-01-01",
                "old_wijk": str(before.wk_code[split][0]),
                "new_wijken": sorted(set(after.wk_code[split].tolist())),
                "buurt_map": dict(zip(before.bu_code[split].tolist(), after.bu_code[split].tolist(), strict=True)),
            }
    providers = {}
    for plist in regions.values():
        for p in plist:
            providers[p.agb] = {
                "name": p.name,
                "domain": p.domain,
                "region": p.region,
                "tariff_factor": p.tariff_factor,
                "goal_logodds": p.goal_logodds,
                "dropout_logodds": p.dropout_logodds,
                "satisfaction": p.satisfaction,
            }
    return {
        "scale": scale,
        "seed": seed,
        "years": years,
        "gemeenten": sorted(u.code for u in units),
        "n_wijken": int(sum(u.n_wijken for u in units)),
        "n_buurten": int(sum(u.n_buurten for u in units)),
        "merger": {**{k: MERGER[k] for k in ("old", "new", "new_name", "date")}, "code_map": merger_map}
        if merged
        else {},
        "recode": recode,
        "models": {
            "jeugd": popmod.JEUGD_MODEL,
            "wmo": popmod.WMO_MODEL,
            "participatie": popmod.PARTICIPATIE_MODEL,
            "multi_domain": popmod.MULTI_DOMAIN_MODEL,
            "jeugd_outcomes": municipal.JEUGD_OUTCOME,
            "satisfaction": survey.SATISFACTION_MODEL,
            "vektis_gamma": vektis.GAMMA,
        },
        "interventions": [
            {
                k: item[k]
                for k in ("id", "unit", "gemeente_code", "wijk_code", "wijk_index", "type", "start", "multiplier")
            }
            for item in interventions
        ],
        "intervention_effects": finance.INTERVENTION_TYPES,
        "over_use": popmod.OVER_USE,
        "over_users": _over_users(seed, units, years),
        "providers": providers,
        "multi_domain_households": multi_counts,
        "row_counts": counter.rows,
        "file_counts": counter.files,
    }
