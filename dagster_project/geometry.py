"""Area geometry for maps: one simplified GeoJSON polygon per area (gemeente, wijk, buurt) per year.

Superset's deck.gl polygon layer draws GeoJSON text straight from a column, so the serving layer
needs a small, ready-to-draw geometry per area. The raw layer holds the delivered boundaries
(`raw.cbs_gebieden`, one row per area per year and level). Where a year's map of wijken or
gemeenten was not delivered, the area is the union of its buurten (shapely), so a buurt map alone
is enough for every level. Every polygon is simplified (topology preserved) with a tolerance per
level and snapped to a 1e-5 degree grid (about a metre), which keeps a national wijk map to a few
megabytes.

Writes `geo.area_geometry` in the build warehouse; dbt reads it as source `geo.area_geometry`
(model `serving_area_geometry`, published as `area_geometry`).
"""

import dagster as dg
import duckdb
import pandas as pd
import shapely

from dagster_project.lib import asset_versions
from dagster_project.resources import Warehouse

SCHEMA = "geo"
TABLE = "area_geometry"
ASSET_KEY = dg.AssetKey([SCHEMA, TABLE])
RAW_KEY = dg.AssetKey(["raw", "cbs", "gebieden"])
LEVELS = ("gemeente", "wijk", "buurt")
# Degrees; about 10 m, 25 m and 50 m in the Netherlands. Small enough that neighbours still meet.
TOLERANCE = {"buurt": 0.0001, "wijk": 0.00025, "gemeente": 0.0005}
GRID = 1e-5
COLUMNS = ["gemeente_code", "area_level", "area_code", "area_name", "year", "bron", "geojson"]

DELIVERED_SQL = """
select
    gemeente_code,
    level as area_level,
    code as area_code,
    name as area_name,
    cast(year as integer) as year,
    wijk_code,
    geometry
from {table}
where level in ('gemeente', 'wijk', 'buurt') and geometry is not null and geometry <> ''
"""


def _union_of_buurten(buurten: pd.DataFrame, delivered: pd.DataFrame, level: str) -> pd.DataFrame:
    """Areas of `level` that have buurten but no delivered boundary in a year, as the union of those buurten."""
    key = "wijk_code" if level == "wijk" else "gemeente_code"
    groups = buurten.assign(area_code=buurten[key]).merge(
        delivered[["year", "area_code"]].drop_duplicates(), on=["year", "area_code"], how="left", indicator=True
    )
    groups = groups[groups["_merge"] == "left_only"]
    if groups.empty:
        return pd.DataFrame(columns=[*COLUMNS[:-1], "shape"])
    united = (
        groups.groupby(["year", "gemeente_code", "area_code"], sort=True)["shape"]
        .agg(lambda shapes: shapely.union_all(shapes.to_numpy()))
        .reset_index()
    )
    united["area_level"] = level
    united["area_name"] = united["area_code"]
    united["bron"] = "samengevoegd uit buurten"
    return united


def build_area_geometry(con: duckdb.DuckDBPyConnection, table: str = "raw.cbs_gebieden") -> pd.DataFrame:
    """Every area's simplified GeoJSON per year, from the raw boundaries (`table`) in `con`."""
    return areas_from_delivered(con.execute(DELIVERED_SQL.format(table=table)).df())


def areas_from_delivered(raw: pd.DataFrame) -> pd.DataFrame:
    """Every area's simplified GeoJSON per year, from the delivered boundaries (`DELIVERED_SQL`)."""
    if raw.empty:
        return pd.DataFrame(columns=COLUMNS)
    raw["shape"] = shapely.make_valid(shapely.from_geojson(raw["geometry"].to_numpy()))
    raw["bron"] = "geleverd"
    buurten = raw[raw["area_level"] == "buurt"]
    parts = [raw.drop(columns=["geometry", "wijk_code"])]
    for level in ("wijk", "gemeente"):
        parts.append(_union_of_buurten(buurten, raw[raw["area_level"] == level], level))
    areas = pd.concat([part for part in parts if not part.empty], ignore_index=True)

    tolerance = areas["area_level"].map(TOLERANCE).to_numpy(dtype=float)
    simplified = shapely.simplify(areas["shape"].to_numpy(), tolerance, preserve_topology=True)
    snapped = shapely.set_precision(simplified, GRID, mode="pointwise")
    areas["geojson"] = shapely.to_geojson(snapped)
    areas["year"] = areas["year"].astype("int32")
    return areas[COLUMNS].sort_values(["year", "area_level", "area_code"], ignore_index=True)


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The geometry table's column types, the same in both warehouses (text, and an integer year)."""
    return frame.astype({**{column: "string" for column in COLUMNS if column != "year"}, "year": "int32"})


def write_area_geometry(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame | None = None) -> int:
    """Replace `geo.area_geometry` in `con` with `frame`, by default the geometry built from its raw
    layer; the row count."""
    frame = build_area_geometry(con) if frame is None else frame
    con.execute(f"create schema if not exists {SCHEMA}")
    con.register("area_geometry_frame", frame)
    try:
        con.execute(
            f"create or replace table {SCHEMA}.{TABLE} as select "
            "cast(gemeente_code as varchar) as gemeente_code, cast(area_level as varchar) as area_level, "
            "cast(area_code as varchar) as area_code, cast(area_name as varchar) as area_name, "
            "cast(year as integer) as year, cast(bron as varchar) as bron, cast(geojson as varchar) as geojson "
            "from area_geometry_frame"
        )
    finally:
        con.unregister("area_geometry_frame")
    return len(frame)


@dg.asset(
    key=ASSET_KEY,
    deps=[RAW_KEY],
    group_name=SCHEMA,
    kinds={"duckdb", "python", "geojson"},
)
def area_geometry(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Simplified GeoJSON per gemeente, wijk and buurt per year for the dashboards' maps.

    Delivered boundaries are used as they are; wijken and gemeenten without a delivered boundary
    are the union of their buurten. Grain: one row per area per year.
    """
    inputs = asset_versions.inputs(warehouse, [__name__], [f"{SCHEMA}.{TABLE}"], raw=["raw.cbs_gebieden"])
    if inputs.unchanged():
        context.log.info("raw.cbs_gebieden did not change since the geometry was made from it: kept.")
        return dg.MaterializeResult(metadata={"kept": True})
    frame = areas_from_delivered(warehouse.query(DELIVERED_SQL.format(table="raw.cbs_gebieden")))
    warehouse.write_tables({TABLE: typed(frame)}, schema=SCHEMA)
    inputs.note()
    rows = len(frame)
    counts = {level: int(n) for level, n in sorted(frame["area_level"].value_counts().items())}
    size = int(frame["geojson"].str.len().sum()) if rows else 0
    context.log.info(f"{rows} area geometries ({counts})")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "rows_per_level": dg.MetadataValue.json(counts),
            "geojson_bytes": int(size),
        }
    )


defs = dg.Definitions(assets=[area_geometry])
