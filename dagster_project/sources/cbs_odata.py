"""CBS open data connector: Kerncijfers wijken en buurten (KWB) fetched from the OData feed.

CBS publishes KWB as one StatLine table per year (`84583NED` is 2019, `85318NED` 2022,
`85984NED` 2024; `kwb_keys.KWB_TABLES`). The connector uses the maintained client `cbsodata`
against the OData v3 bulk feed (`/ODataFeed/odata/<table>/`), which pages with `odata.nextLink`:

- `TableInfos` must name the table "Kerncijfers wijken en buurten <year>": a wrong id fails
  before anything is written;
- `DataProperties` gives the column keys of that year (the numeric suffix moves between years):
  the keys of the topics `cbs_kwb` reads are found as the source finds them in a download (the
  year's key list, else the name without the suffix), a missing required one is an error;
- `TypedDataSet` gives the rows: codes and names space-padded as in the StatLine CSV, `null`
  where CBS keeps a value secret. The national row (`SoortRegio` `Land`) is left out: the
  delivered-file contract covers gemeenten, wijken and buurten.

The result is written as the TypedDataSet CSV CBS offers for download, `cbs_kwb/kwb_<year>.csv`
(UTF-8 with a byte-order mark, `;`, every field quoted, numbers padded left, `.` for secret
values), the year's own keys in the header: exactly what `cbs_kwb` ingests from a manual
download. New periods are found in the CBS catalog (`ODataCatalog/Tables`), by title.
"""

import csv
import re
import threading
from datetime import datetime
from urllib.parse import urlsplit

import cbsodata
import pandas as pd
import requests

from dagster_project.ingest.fetch import fetch_definitions
from dagster_project.lib.connectors import FetchError, Landed, land
from dagster_project.settings import Settings, get_settings
from dagster_project.sources import cbs_kwb, kwb_keys

SOURCE = cbs_kwb.SOURCE
TITLE = "Kerncijfers wijken en buurten"
TITLE_PATTERN = re.compile(rf"^{TITLE} (?P<year>\d{{4}})$", re.IGNORECASE)
# StatLine table ids of KWB per year; the catalog is asked for years not listed here.
KWB_TABLES = kwb_keys.KWB_TABLES
_CLIENT_LOCK = threading.Lock()


def _client_target(settings: Settings) -> tuple[str, bool]:
    """`cbsodata` takes a host (plus path) and a global https switch instead of a URL."""
    url = urlsplit(settings.cbs_odata_url.rstrip("/"))
    return url.netloc + url.path, url.scheme != "http"


def _call(settings: Settings, what: str, function, *args, **kwargs):
    catalog_url, use_https = _client_target(settings)
    with _CLIENT_LOCK:
        previous = cbsodata.options.use_https
        cbsodata.options.use_https = use_https
        try:
            return function(*args, catalog_url=catalog_url, timeout=settings.fetch_timeout_seconds, **kwargs)
        except requests.HTTPError as exc:
            response = exc.response if exc.response is not None else getattr(exc.__cause__, "response", None)
            status = response.status_code if response is not None else "error"
            raise FetchError(f"CBS {what}: HTTP {status} from {settings.cbs_odata_url}; nothing was landed") from None
        except requests.RequestException as exc:
            raise FetchError(
                f"CBS {what}: cannot reach {settings.cbs_odata_url} ({type(exc).__name__}); nothing was landed"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise FetchError(
                f"CBS {what}: the response is not an OData JSON page ({type(exc).__name__}); nothing was landed"
            ) from None
        finally:
            cbsodata.options.use_https = previous


def catalog(settings: Settings) -> dict[int, dict]:
    """Every KWB table in the CBS catalog, by year: {year: {"id", "modified"}}."""
    tables = _call(
        settings,
        "catalog",
        cbsodata.get_table_list,
        filters=f"substringof('{TITLE}',Title)",
        select=["Identifier", "Title", "Modified"],
    )
    found = {}
    for table in tables:
        match = TITLE_PATTERN.match(str(table.get("Title", "")).strip())
        if match:
            found[int(match["year"])] = {"id": table["Identifier"], "modified": table.get("Modified")}
    return found


def table_id(year: int, settings: Settings) -> str:
    if year in KWB_TABLES:
        return KWB_TABLES[year]
    found = catalog(settings)
    if year not in found:
        raise FetchError(f"CBS: no '{TITLE} {year}' table in the catalog; nothing was landed")
    return found[year]["id"]


def _field(value: object) -> str:
    """A TypedDataSet value as the CSV download writes it: text as sent (padded), numbers padded
    left to eight characters, `.` for null."""
    if value is None or (isinstance(value, float) and value != value):
        return ".".rjust(8)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value).rjust(8)
    return str(value)


def to_statline_csv(properties: list[dict], rows: list[dict], year: int | None = None) -> tuple[bytes, int]:
    """The TypedDataSet rows as the TypedDataSet CSV download, with the year's keys of the topics
    `cbs_kwb` reads: every field quoted, `.` where CBS keeps a value secret (null)."""
    keys = [p["Key"] for p in properties if p.get("Key") and p.get("Type") != "TopicGroup"]
    found, missing = cbs_kwb.resolve(keys, year, f"KWB {year}")
    lacking = [c for c in kwb_keys.REQUIRED if c in missing]
    if lacking:
        raise FetchError(f"CBS: the table has no column {', '.join(lacking)}; nothing was landed")
    chosen = ["ID"] + [k for k in keys if k in found]
    soort = next(k for k in chosen if found.get(k) == "SoortRegio")
    frame = pd.DataFrame(rows, columns=chosen, dtype=object)
    frame = frame[frame[soort].astype(str).str.strip() != "Land"]
    frame = frame.map(_field).assign(ID=frame["ID"].astype(str))
    text = frame.to_csv(sep=";", index=False, quoting=csv.QUOTE_ALL, lineterminator="\n")
    return ("\ufeff" + text).encode("utf-8"), len(frame)


def fetch_kwb(year: int, settings: Settings | None = None, table: str | None = None) -> Landed:
    """Fetch KWB of one year and land it as `cbs_kwb/kwb_<year>.csv`."""
    settings = settings or get_settings()
    table = table or table_id(year, settings)
    info = _call(settings, f"table {table} (TableInfos)", cbsodata.get_info, table) or {}
    title = str(info.get("Title", "")).strip()
    if not re.fullmatch(rf"{TITLE} {year}", title, re.IGNORECASE):
        raise FetchError(f"CBS table {table} is '{title}', not '{TITLE} {year}'; nothing was landed")
    properties = _call(settings, f"table {table} (DataProperties)", cbsodata.get_meta, table, "DataProperties")
    rows = _call(settings, f"table {table} (TypedDataSet)", cbsodata.get_meta, table, "TypedDataSet")
    if not rows:
        raise FetchError(f"CBS table {table}: the TypedDataSet is empty; nothing was landed")
    content, count = to_statline_csv(properties, rows, year)
    path, status = land(settings, SOURCE, f"kwb_{year}.csv", content)
    return Landed(SOURCE, str(year), path, count, status, f"{settings.cbs_odata_url} {table}")


def new_periods(settings: Settings | None = None) -> dict[int, str]:
    """KWB years in the catalog from `cbs_kwb_from_year` on that have not landed, or that CBS
    revised after they landed: {year: table id}."""
    settings = settings or get_settings()
    wanted = {}
    for year, table in sorted(catalog(settings).items()):
        if year < settings.cbs_kwb_from_year:
            continue
        landed = settings.landing_dir / SOURCE / f"kwb_{year}.csv"
        modified = _timestamp(table.get("modified"))
        if not landed.exists() or (modified and modified > landed.stat().st_mtime):
            wanted[year] = table["id"]
    return wanted


def _timestamp(value: object) -> float | None:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def fetch(years: list[int] | None = None, settings: Settings | None = None) -> list[Landed]:
    """The given years, or every new or revised period in the catalog."""
    settings = settings or get_settings()
    if years:
        return [fetch_kwb(year, settings) for year in years]
    return [fetch_kwb(year, settings, table) for year, table in new_periods(settings).items()]


defs = fetch_definitions(
    SOURCE,
    "cbs",
    lambda years: fetch(years),
    op="Fetch CBS KWB tables (the given years, or new and revised periods) into var/landing/cbs_kwb/.",
    job="Fetch Kerncijfers wijken en buurten from CBS open data; the landing sensor ingests it.",
    schedule="Once a year, ask the CBS catalog for new or revised KWB periods and fetch them.",
    nothing_new="CBS: no new KWB period",
)
