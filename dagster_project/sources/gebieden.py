"""Area boundaries: gemeenten, wijken and buurten per year, as GeoJSON.

Delivered as `<level>_<year>.geojson` in `gebieden/` (`gemeenten_2022.geojson`,
`wijken_2022.geojson`, `buurten_2022.geojson`): one FeatureCollection per level and year in
WGS84, each feature with properties `code`, `name`, `level`, `gemeente_code`, `year` and, for
buurten, `wijk_code`, and a Polygon or MultiPolygon geometry. The raw table keeps the geometry
as GeoJSON text (one row per area per year); no spatial extension is needed to load it, and
DuckDB spatial or Superset's deck.gl layers read it as it is. The row number in a reason is the
feature's position in the collection (1 = first feature).

Beside the maps, `pc6_gwb_<year>.csv` (`;`-separated, `PC6;Buurt<year>;Wijk<year>;
Gemeente<year>`, like CBS' postcode-6 to buurt file) places every postcode-6 in its buurt, wijk
and gemeente of that year. Municipal ingestion uses it to give each client row its buurt and
wijk, so the postcode itself need not be kept.

Raw tables `raw.cbs_gebieden` (period key `<level>:<year>`, so a corrected wijk map of a year
supersedes only that map) and `raw.cbs_pc6_gwb` (period key `pc6:<year>`).
"""

import json
import re
from pathlib import Path

import pyarrow as pa

from dagster_project import ingest
from dagster_project.ingest import Rule

SOURCE = "gebieden"
FILE_PATTERN = re.compile(r"^(?P<level>gemeenten|wijken|buurten)_(?P<year>\d{4})\.geojson$")
LEVELS = {"gemeenten": "gemeente", "wijken": "wijk", "buurten": "buurt"}
PROPERTIES = ["code", "name", "level", "gemeente_code", "wijk_code", "year"]
COLUMNS = [*PROPERTIES, "geometry_type", "geometry"]


def read_geojson(path: Path) -> pa.Table:
    """The features of a FeatureCollection as text columns, or UnreadableFile."""
    raw = path.read_bytes()
    if not raw.strip():
        raise ingest.UnreadableFile(f"{path.name}: the file is empty")
    try:
        collection = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ingest.UnreadableFile(f"{path.name}: not UTF-8 (byte {exc.start} cannot be decoded)") from None
    except json.JSONDecodeError as exc:
        raise ingest.UnreadableFile(f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise ingest.UnreadableFile(f"{path.name}: not a GeoJSON FeatureCollection")
    features = collection.get("features") or []
    if not features:
        raise ingest.UnreadableFile(f"{path.name}: the collection has no features")
    columns: dict[str, list[str]] = {name: [] for name in COLUMNS}
    for feature in features:
        properties = (feature.get("properties") if isinstance(feature, dict) else None) or {}
        geometry = (feature.get("geometry") if isinstance(feature, dict) else None) or {}
        for name in PROPERTIES:
            value = properties.get(name)
            columns[name].append("" if value is None else str(value))
        columns["geometry_type"].append(str(geometry.get("type", "")) if isinstance(geometry, dict) else "")
        columns["geometry"].append(json.dumps(geometry, separators=(",", ":")) if geometry else "")
    table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    return table.append_column("_row", pa.array(range(1, len(features) + 1), pa.int64()))


CODE_BY_LEVEL = (
    f"case trim(level) when 'gemeente' then regexp_full_match(trim(code), '{ingest.GM_CODE}') "
    f"when 'wijk' then regexp_full_match(trim(code), '{ingest.WK_CODE}') "
    f"when 'buurt' then regexp_full_match(trim(code), '{ingest.BU_CODE}') end"
)

CONTRACT = ingest.SqlContract(
    columns=COLUMNS,
    rules=[
        Rule("level", "matches_file_name", "trim(level) <> '${level_name}'"),
        Rule("code", "area_code", f"not coalesce({CODE_BY_LEVEL}, false)"),
        ingest.required("name"),
        *ingest.gemeente_rules("gemeente_code", from_file=False),
        Rule("code", "area_in_gemeente", "substr(trim(code), 3, 4) <> substr(trim(gemeente_code), 3, 4)"),
        Rule(
            "wijk_code",
            "buurt_in_wijk",
            f"trim(level) = 'buurt' and (not regexp_full_match(trim(wijk_code), '{ingest.WK_CODE}') "
            "or substr(trim(code), 3, 6) <> substr(trim(wijk_code), 3, 6))",
        ),
        Rule("year", "matches_file_name", "trim(year) <> '${year}'"),
        ingest.one_of("geometry_type", ["Polygon", "MultiPolygon"], "polygon_geometry"),
    ],
    typed={
        "code": "trim(code)",
        "name": "trim(name)",
        "level": "trim(level)",
        "gemeente_code": "trim(gemeente_code)",
        "wijk_code": ("case trim(level) when 'buurt' then trim(wijk_code) when 'wijk' then trim(code) end"),
        "year": "cast(trim(year) as integer)",
        "geometry_type": "geometry_type",
        "geometry": "geometry",
    },
    unique=["code"],
)


def level_name(groups: dict[str, str]) -> dict[str, str]:
    """`wijken` in the file name → `wijk` in the rows."""
    return {"level_name": LEVELS[groups["level"]]}


validate = ingest.sql_validator(CONTRACT, context=level_name)


PC6_COLUMNS = ["PC6", "Buurt", "Wijk", "Gemeente"]
PC6_CONTRACT = ingest.SqlContract(
    columns=PC6_COLUMNS,
    rules=[
        Rule("PC6", "postcode_format", r"not regexp_full_match(upper(replace(PC6, ' ', '')), '\d{4}[A-Z]{2}')"),
        ingest.matches("Buurt", ingest.BU_CODE),
        ingest.matches("Wijk", ingest.WK_CODE),
        *ingest.gemeente_rules("Gemeente", from_file=False),
        Rule("Buurt", "buurt_in_wijk", "substr(trim(Buurt), 3, 6) <> substr(trim(Wijk), 3, 6)"),
        Rule("Wijk", "wijk_in_gemeente", "substr(trim(Wijk), 3, 4) <> substr(trim(Gemeente), 3, 4)"),
    ],
    typed={
        "postcode6": "upper(replace(PC6, ' ', ''))",
        "buurt_code": "trim(Buurt)",
        "wijk_code": "trim(Wijk)",
        "gemeente_code": "trim(Gemeente)",
        "year": "cast('${year}' as integer)",
    },
    unique=["PC6"],
)


def without_year(column: str) -> str:
    """`Buurt2022` → `Buurt`."""
    return re.sub(r"\d{4}$", "", column)


PC6_SPEC = ingest.SourceSpec(
    source=SOURCE,
    table="cbs_pc6_gwb",
    asset_key=("raw", "cbs", "pc6_gwb"),
    file_pattern=re.compile(r"^pc6_gwb_(?P<year>\d{4})\.csv$"),
    file_hint="pc6_gwb_<year>.csv",
    period=lambda match: f"pc6:{match['year']}",
    contract=PC6_CONTRACT,
    read=ingest.delimited_reader(PC6_COLUMNS, normalise=without_year),
    description="Postcode-6 to buurt, wijk and gemeente, one row per postcode per year, in `raw.cbs_pc6_gwb`.",
)

SPEC = ingest.SourceSpec(
    source=SOURCE,
    table="cbs_gebieden",
    asset_key=("raw", "cbs", "gebieden"),
    file_pattern=FILE_PATTERN,
    file_hint="<gemeenten|wijken|buurten>_<year>.geojson",
    period=lambda match: f"{match['level']}:{match['year']}",
    read=read_geojson,
    validate=validate,
    glob="*.geojson",
    description=(
        "Boundaries of gemeenten, wijken and buurten, one row per area per year with the "
        "geometry as GeoJSON text, in `raw.cbs_gebieden`."
    ),
)
SPECS = [SPEC, PC6_SPEC]


gebieden = ingest.source_assets(
    "gebieden", SPECS, "Area maps and the postcode-6 to buurt table of every delivered year."
)
