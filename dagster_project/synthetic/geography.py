"""Synthetic wijken and buurten inside the real 2022 gemeente boundaries.

Each gemeente of the CBS/PDOK 2022 layer is one generation *unit*. Its wijken are the Voronoi
cells of random points inside the gemeente polygon (clipped to it), its buurten the Voronoi cells
of random points inside each wijk. Codes follow CBS: wijk `WK<gggg><ww>`, buurt `BU<gggg><ww><bb>`.
Every wijk gets one postcode-4 (numbered roughly clockwise over the country, like real
postcodes), and each buurt a disjoint range of its letter pairs, so an address places a
household in exactly one buurt.

Gemeente codes follow the real herindelingen (`dbt/seeds/ref_herindelingen.csv`), so every
unit delivers under a code that existed on the day (`Era`):
- after 2022 a unit merges into its successor (Weesp into Amsterdam on 2022-03-24; Brielle,
  Hellevoetsluis and Westvoorne into Voorne aan Zee, GM1992, on 2023-01-01), its wijken
  renumbered after the successor's own;
- before a merger that formed its 2022 gemeente, a unit is the gemeente that continued, or for a
  new code its first predecessor, under its old name; a renamed gemeente has its old code. The
  other predecessors of a merger, and gemeenten split up among several others, are not generated.
A synthetic split of one Nissewaard wijk into two new wijken (2024; its buurten re-coded) adds a
change of wijk codes inside one gemeente.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPoint, mapping, shape

from .common import GEOJSON_2022, POSTCODE_LETTERS, RECODE, SEEDS, buurt_code, gm_num, rng_for, wijk_code

# Approximate 2020 populations of the larger gemeenten and the islands (CBS, rounded);
# the others are drawn from a log-normal distribution.
KNOWN_POPULATION = {
    "GM0363": 872_000,
    "GM0599": 651_000,
    "GM0518": 545_000,
    "GM0344": 357_000,
    "GM0772": 234_000,
    "GM0014": 233_000,
    "GM0855": 219_000,
    "GM0034": 211_000,
    "GM0758": 184_000,
    "GM0268": 177_000,
    "GM0193": 129_000,
    "GM0153": 158_000,
    "GM0307": 157_000,
    "GM0200": 164_000,
    "GM0202": 162_000,
    "GM0392": 162_000,
    "GM0394": 157_000,
    "GM0796": 155_000,
    "GM0637": 125_000,
    "GM0080": 124_000,
    "GM0546": 125_000,
    "GM0935": 121_000,
    "GM0503": 103_000,
    "GM0505": 119_000,
    "GM0361": 109_000,
    "GM0228": 118_000,
    "GM0479": 156_000,
    "GM0501": 17_500,
    "GM0530": 40_500,
    "GM0614": 14_800,
    "GM1930": 85_500,
    "GM1924": 50_500,
    "GM1963": 88_000,
    "GM0613": 25_500,
    "GM0489": 49_000,
    "GM0597": 46_500,
    "GM0556": 33_500,
    "GM0096": 1_150,
    "GM0088": 950,
    "GM0060": 3_700,
    "GM0093": 4_900,
    "GM0448": 13_600,
    "GM0277": 1_600,
}
TARGET_POPULATION = 17_400_000
PEOPLE_PER_WIJK = 5_100
BUURT_PARTS = [
    "Centrum",
    "Noord",
    "Oost",
    "Zuid",
    "West",
    "Buitengebied",
    "Oude Dorp",
    "Molenwijk",
    "Kerkbuurt",
    "Haven",
    "Park",
    "Veld",
    "Hof",
    "Dijk",
    "Polder",
    "Kwartier",
    "Akker",
    "Weide",
    "Bos",
    "Singel",
]
MAX_WIJKEN = 99


@dataclass(frozen=True)
class Era:
    """From `start` (ISO date) on, a unit's buurten belong to gemeente `code`, wijken shifted by `wijk_offset`."""

    start: str
    code: str
    name: str
    wijk_offset: int = 0


@dataclass
class Unit:
    """One 2022 gemeente with its synthetic wijken and buurten (all arrays per buurt)."""

    code: str
    name: str
    order: int
    geom: object
    population: float
    growth: float
    n_wijken: int = 0
    wijk_geoms: list = field(default_factory=list)
    wijk_pc4: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    bu_wijk: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    bu_num: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    bu_geoms: list = field(default_factory=list)
    bu_area_km2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bu_share: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bu_pair_start: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    bu_pair_count: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    bu_names: list = field(default_factory=list)
    region: int = 0
    hh_offset: int = 0
    hh_capacity: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    hh_start: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    eras: list[Era] = field(default_factory=list)

    @property
    def n_buurten(self) -> int:
        return len(self.bu_wijk)

    def era_on(self, day: str) -> Era:
        return [era for era in self.eras if era.start <= day][-1]

    def gemeente_in(self, year: int) -> str:
        """The gemeente code on 1 January (CBS, budgets, contracts and surveys are yearly)."""
        return self.era_on(f"{year}-01-01").code

    def gemeente_by_month(self, month: np.ndarray) -> np.ndarray:
        """The gemeente code on the first day of each month index (`year * 12 + month - 1`)."""
        starts = np.array([_first_month_on_or_after(era.start) for era in self.eras])
        codes = np.array([era.code for era in self.eras], dtype=object)
        return codes[np.searchsorted(starts, month, side="right") - 1]

    def population_in(self, year: int) -> float:
        return self.population * (1.0 + self.growth) ** (year - 2020)


def load_gemeenten() -> dict[str, tuple[str, object]]:
    data = json.loads(GEOJSON_2022.read_text(encoding="utf-8"))
    out = {}
    for feature in data["features"]:
        props = feature["properties"]
        out[props["statcode"]] = (props["statnaam"], shape(feature["geometry"]))
    return dict(sorted(out.items()))


def _sample_inside(geom, n: int, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = geom.bounds
    shapely.prepare(geom)
    found = np.zeros((0, 2))
    while len(found) < n:
        batch = rng.uniform([minx, miny], [maxx, maxy], size=(max(4 * n, 64), 2))
        inside = shapely.contains_xy(geom, batch[:, 0], batch[:, 1])
        found = np.vstack([found, batch[inside]])
    return found[:n]


def _voronoi_cells(geom, points: np.ndarray) -> list:
    if len(points) == 1:
        return [geom]
    cells = shapely.voronoi_polygons(MultiPoint(points), extend_to=geom, ordered=True)
    parts = [_polygonal(shapely.intersection(cell, geom)) for cell in cells.geoms]
    # A cell can vanish where the polygon is thin; give its point a tiny square instead.
    out = []
    for cell, (x, y) in zip(parts, points, strict=True):
        if cell.is_empty or cell.area <= 0:
            cell = shapely.box(x - 1e-4, y - 1e-4, x + 1e-4, y + 1e-4)
        out.append(cell)
    return out


def _polygonal(geom):
    """Keep only the polygon parts of an intersection result."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def _km2(geom) -> float:
    lat = geom.centroid.y
    return geom.area * 111.32 * 111.32 * math.cos(math.radians(lat))


def _first_month_on_or_after(day: str) -> int:
    if not day:
        return -1
    year, month, dom = (int(part) for part in day.split("-"))
    return year * 12 + month - 1 + (dom > 1)


def _herindelingen() -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """The herindelingen, and per code its name and first day (empty: before the reference list)."""
    events = pd.read_csv(SEEDS / "ref_herindelingen.csv", dtype=str, keep_default_na=False)
    ref = pd.read_csv(SEEDS / "ref_gemeenten.csv", dtype=str, keep_default_na=False)
    names = dict(zip(ref["code"], ref["name"], strict=True))
    return events, names, dict(zip(ref["code"], ref["valid_from"], strict=True))


def _plan_eras(units: list[Unit], snapshot: str = "2022-01-01") -> None:
    """Give every unit its gemeente codes over time (see the module docstring), and keep room
    below 99 wijken for the units a successor absorbs."""
    events, names, valid_from = _herindelingen()
    by_code = {u.code: u for u in units}
    backward = events[events["date"] <= snapshot].sort_values("date", ascending=False)
    forward = events[(events["date"] > snapshot) & (events["kind"] == "samenvoeging")]
    absorbed = forward[forward["new_code"].isin(by_code)].groupby("new_code")["old_code"].agg(list)
    for successor, olds in absorbed.items():
        room = MAX_WIJKEN - sum(by_code[o].n_wijken for o in olds if o in by_code)
        unit = by_code[successor]
        unit.n_wijken = min(unit.n_wijken, room)
        unit.wijk_pc4 = unit.wijk_pc4[: unit.n_wijken]
    for unit in units:
        eras = [Era(snapshot, unit.code, unit.name)]
        for _, event in backward.iterrows():
            code = eras[0].code
            if event["new_code"] != code or event["kind"] == "splitsing":
                continue
            if event["kind"] == "samenvoeging" and (valid_from.get(code) or "") < event["date"]:
                continue  # the gemeente itself continued and took the others in
            first = backward[(backward["new_code"] == code) & (backward["date"] == event["date"])]["old_code"].min()
            eras[0] = Era(event["date"], code, eras[0].name)
            eras.insert(0, Era("", first, names[first]))
        eras[0] = Era("", eras[0].code, eras[0].name)
        mine = forward[forward["old_code"] == unit.code]
        for _, event in mine.iterrows():
            new = event["new_code"]
            partners = sorted(forward[(forward["new_code"] == new) & (forward["date"] == event["date"])]["old_code"])
            offset = by_code[new].n_wijken if new in by_code else 0
            offset += sum(by_code[o].n_wijken for o in partners[: partners.index(unit.code)] if o in by_code)
            eras.append(Era(event["date"], new, by_code[new].name if new in by_code else names[new], offset))
        unit.eras = eras


def national_plan(seed: int, gemeenten: dict) -> list[Unit]:
    """Population, growth, wijk count and postcode order of every gemeente (cheap, no geometry)."""
    units = []
    for order, (code, (name, geom)) in enumerate(gemeenten.items()):
        rng = rng_for(seed, "plan", code)
        pop = KNOWN_POPULATION.get(code) or float(np.clip(rng.lognormal(math.log(30_000), 0.55), 6_000, 120_000))
        growth = float(rng.normal(0.004, 0.004))
        units.append(Unit(code=code, name=name, order=order, geom=geom, population=pop, growth=growth))
    known = sum(u.population for u in units if u.code in KNOWN_POPULATION)
    rest = sum(u.population for u in units if u.code not in KNOWN_POPULATION)
    factor = (TARGET_POPULATION - known) / rest
    for unit in units:
        if unit.code not in KNOWN_POPULATION:
            unit.population = round(unit.population * factor)
        unit.n_wijken = int(np.clip(round(unit.population / PEOPLE_PER_WIJK), 1, 99))
    # Postcodes run roughly anticlockwise from Amsterdam (1xxx) to Groningen (9xxx).
    centre = (5.3, 52.2)

    def angle(unit: Unit) -> float:
        c = unit.geom.centroid
        a = math.degrees(math.atan2(c.y - centre[1], (c.x - centre[0]) * 0.61))
        return (a - 150.0) % 360.0

    ordered = sorted(units, key=angle)
    total = sum(u.n_wijken for u in units)
    cum = 0
    households = 0
    for position, unit in enumerate(ordered):
        unit.region = position // 8  # approximate care region: eight neighbours in postcode order
        unit.wijk_pc4 = 1000 + np.floor((cum + np.arange(unit.n_wijken)) * 8990 / total).astype(int)
        cum += unit.n_wijken
    for unit in units:
        unit.hh_offset = households
        households += int(unit.population * 0.725) + 11 * 20 * unit.n_wijken + 100
    _plan_eras(units)
    return units


def build_units(seed: int, codes: list[str] | None) -> list[Unit]:
    """Units for the selected gemeenten (all when `codes` is None), with wijk and buurt geometry."""
    units = national_plan(seed, load_gemeenten())
    if codes is not None:
        units = [u for u in units if u.code in codes]
    for unit in units:
        _build_geometry(seed, unit)
    return units


def _build_geometry(seed: int, unit: Unit) -> None:
    rng = rng_for(seed, "geo", unit.code)
    points = _sample_inside(unit.geom, unit.n_wijken, rng)
    unit.wijk_geoms = _voronoi_cells(unit.geom, points)
    bu_wijk, bu_num, bu_geoms = [], [], []
    for w, wgeom in enumerate(unit.wijk_geoms):
        n_b = int(min(20, 1 + rng.poisson(3.2)))
        if unit.code == RECODE["gemeente"] and w == 0:
            n_b = max(n_b, 4)  # the wijk that is split later needs buurten on both sides
        cells = _voronoi_cells(wgeom, _sample_inside(wgeom, n_b, rng))
        bu_wijk += [w] * n_b
        bu_num += list(range(n_b))
        bu_geoms += cells
    unit.bu_wijk = np.array(bu_wijk)
    unit.bu_num = np.array(bu_num)
    unit.bu_geoms = bu_geoms
    unit.bu_area_km2 = np.array([_km2(g) for g in bu_geoms])
    weights = rng.lognormal(0.0, 0.8, size=len(bu_wijk))
    unit.bu_share = weights / weights.sum()
    unit.bu_names = [
        f"{BUURT_PARTS[int(rng.integers(len(BUURT_PARTS)))]} {unit.name[:18]} {w:02d}{b:02d}"
        for w, b in zip(bu_wijk, bu_num, strict=True)
    ]
    # Households: capacity with room for growth; letter pairs of the wijk postcode per buurt.
    capacity = np.ceil(unit.population * 0.725 * unit.bu_share).astype(int) + 10
    unit.hh_capacity = capacity
    unit.hh_start = np.concatenate([[0], np.cumsum(capacity)[:-1]])
    pairs = np.ceil(capacity / 60).astype(int)
    start = np.zeros(len(pairs), dtype=int)
    for w in range(unit.n_wijken):
        idx = np.flatnonzero(unit.bu_wijk == w)
        start[idx] = np.concatenate([[0], np.cumsum(pairs[idx])[:-1]])
    unit.bu_pair_start = start
    unit.bu_pair_count = pairs


def address_of(unit: Unit, buurt: np.ndarray, local_hh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Postcode (`1234AB`) and house number of household `local_hh` (0-based) of a buurt."""
    pair = unit.bu_pair_start[buurt] + local_hh // 60
    pair = pair % (len(POSTCODE_LETTERS) ** 2)
    letters = np.char.add(POSTCODE_LETTERS[pair // len(POSTCODE_LETTERS)], POSTCODE_LETTERS[pair % 20])
    pc4 = unit.wijk_pc4[unit.bu_wijk[buurt]].astype(str)
    return np.char.add(pc4, letters), (local_hh % 60) * 2 + 1


@dataclass
class Codes:
    """The codes of a unit's buurten in one year."""

    gm_code: str
    gm_name: str
    wk_num: np.ndarray
    bu_num: np.ndarray
    wk_code: np.ndarray
    bu_code: np.ndarray


def codes_for(unit: Unit, year: int) -> Codes:
    """Resolve the gemeente, wijk and buurt codes of a unit's buurten valid on 1 January of `year`."""
    era = unit.era_on(f"{year}-01-01")
    wk = unit.bu_wijk + era.wijk_offset
    bu = unit.bu_num.copy()
    if unit.code == RECODE["gemeente"] and year >= RECODE["year"]:
        wk, bu = recode_split(unit, wk, bu)
    gm = gm_num(era.code)
    return Codes(era.code, era.name, wk, bu, wijk_code(gm, wk), buurt_code(gm, wk, bu))


def recode_split(unit: Unit, wk: np.ndarray, bu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split wijk 00 into two new wijken numbered after the last existing one."""
    wk, bu = wk.copy(), bu.copy()
    idx = np.flatnonzero(unit.bu_wijk == 0)
    half = (len(idx) + 1) // 2
    first, second = idx[:half], idx[half:]
    wk[first], wk[second] = unit.n_wijken, unit.n_wijken + 1
    bu[first], bu[second] = np.arange(len(first)), np.arange(len(second))
    return wk, bu


def geometry_json(geom, digits: int = 5) -> str:
    """GeoJSON geometry text with rounded coordinates (WGS84 lon/lat)."""

    def rnd(obj):
        if isinstance(obj, (list, tuple)):
            if obj and isinstance(obj[0], float):
                return [round(v, digits) for v in obj]
            return [rnd(v) for v in obj]
        return obj

    geo = mapping(geom)
    return json.dumps({"type": geo["type"], "coordinates": rnd(geo["coordinates"])}, separators=(",", ":"))
