"""Vektis open data connector: "Open Databestand Zorgverzekeringswet" per gemeente and postcode-3.

Vektis publishes one CSV per year and level at
`<MMR_VEKTIS_URL>/<year>/Vektis Open Databestand Zorgverzekeringswet <year> - <level>.csv`
(older years and re-issues live elsewhere, see `PATHS`; `mmr fetch vektis --url` takes any URL).
The published layout drifts between years, so the connector maps it onto the delivered-file
contract of `vektis_zvw` before landing it as `vektis_zvw/vektis_zvw_<level>_<year>.csv`:

- UTF-8 (a file that is not UTF-8 is read as Windows-1252, the encoding of Vektis' exports);
- `;` as delimiter (a `,`-separated file is re-written);
- upper-case column names, `JAAR` added from the requested year when the file has none;
- age classes as the contract writes them (`0 t/m 4 jaar` → `0`, `90 jaar en ouder` → `90+`);
- decimal comma → decimal point;
- a cost category the contract expects but the file lacks becomes an empty column (unknown, not
  zero) and is logged; categories the contract does not know stay in the file and are ignored.

Rows Vektis puts in its rest category (fewer than 10 persons, unknown area) are kept: the
contract quarantines them with a reason instead of the connector dropping them unseen.
"""

import csv
import io
from datetime import date
from urllib.parse import quote

import pandas as pd

from dagster_project.ingest.fetch import fetch_definitions
from dagster_project.lib.connectors import FetchError, Landed, http_get, land, log
from dagster_project.settings import Settings, get_settings
from dagster_project.sources import vektis_zvw

SOURCE = vektis_zvw.SOURCE
LEVELS = {"gemeente": "GEMEENTENAAM", "postcode3": "POSTCODE_3"}
FILE_NAME = "Vektis Open Databestand Zorgverzekeringswet {year} - {level}.csv"
# Where Vektis keeps the files that are not at <year>/<FILE_NAME>.
PATHS = {
    **{(year, "gemeente"): "Gemeentebestanden 2011-2016/" + FILE_NAME for year in range(2011, 2017)},
    **{(year, "postcode3"): "Oud/" + FILE_NAME for year in range(2011, 2017)},
    (2020, "gemeente"): "2020/Vektis Open Databestand Zorgverzekeringswet 2020 - gemeente_versie2.csv",
    (2020, "postcode3"): "2020/Vektis Open Databestand Zorgverzekeringswet 2020 - postcode3_versie2.csv",
}


def url_for(year: int, level: str, settings: Settings) -> str:
    path = PATHS.get((year, level), "{year}/" + FILE_NAME).format(year=year, level=level)
    return settings.vektis_url.rstrip("/") + "/" + quote(path)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _age_class(values: pd.Series) -> pd.Series:
    text = values.str.strip()
    lower = text.str.extract(r"^(\d+)\s*(?:t/m|-|tot)\s*\d+(?:\s*jaar)?$", expand=False)
    oldest = text.str.fullmatch(r"90\s*(?:\+|jaar en ouder|en ouder|\+ jaar)")
    return lower.where(lower.notna(), text.where(~oldest, "90+"))


def to_delivered(raw: bytes, year: int, level: str, origin: str) -> tuple[bytes, int]:
    """Map one published Vektis file onto the `vektis_zvw` delivered-file contract."""
    text = _decode(raw)
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype", "<html", "<?xml")):
        raise FetchError(f"Vektis {level} {year}: {origin} returned a web page, not a CSV; nothing was landed")
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FetchError(f"Vektis {level} {year}: {origin} is not a readable CSV ({exc}); nothing was landed") from None
    frame.columns = [str(c).strip().upper() for c in frame.columns]
    area = LEVELS[level]
    absent = [c for c in ["GESLACHT", "LEEFTIJDSKLASSE", area, "AANTAL_BSN"] if c not in frame]
    if absent or frame.empty:
        problem = f"has no column {', '.join(absent)}" if absent else "has no rows"
        raise FetchError(f"Vektis {level} {year}: {origin} {problem}; nothing was landed")
    if "JAAR" not in frame:
        frame.insert(0, "JAAR", str(year))
    frame["LEEFTIJDSKLASSE"] = _age_class(frame["LEEFTIJDSKLASSE"])
    lacking = [c for c in vektis_zvw.MEASURES if c not in frame]
    if lacking:
        log.warning("Vektis %s %s: no column %s; landed as empty (unknown)", level, year, ", ".join(lacking))
        frame = frame.assign(**dict.fromkeys(lacking, ""))
    measures = [c for c in frame if c in vektis_zvw.MEASURES or c.startswith("KOSTEN_")]
    frame[measures] = frame[measures].apply(
        lambda s: s.str.strip().str.replace(r"^(-?\d+),(\d+)$", r"\1.\2", regex=True)
    )
    contract = vektis_zvw.GEMEENTE_CONTRACT if level == "gemeente" else vektis_zvw.POSTCODE3_CONTRACT
    ordered = contract.columns + [c for c in frame if c not in contract.columns]
    content = frame[ordered].to_csv(sep=";", index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    return content.encode("utf-8"), len(frame)


def _fetch_mapped(year: int, level: str, settings: Settings, url: str | None = None) -> tuple[str, bytes, int]:
    if level not in LEVELS:
        raise FetchError(f"Vektis: level must be one of {', '.join(LEVELS)}, not {level!r}")
    url = url or url_for(year, level, settings)
    response = http_get(url, f"Vektis {level} {year}", settings.fetch_timeout_seconds)
    content, rows = to_delivered(response.content, year, level, url)
    return url, content, rows


def fetch_year(year: int, settings: Settings | None = None, url: str | None = None) -> list[Landed]:
    """Both levels of one year, landed only when both were fetched (with `url`: the one file
    behind it, its level read from the name), as `vektis_zvw/vektis_zvw_<level>_<year>.csv`."""
    settings = settings or get_settings()
    levels = [("postcode3" if "postcode" in url.lower() else "gemeente")] if url else list(LEVELS)
    fetched = [(level, *_fetch_mapped(year, level, settings, url)) for level in levels]
    landed = []
    for level, source_url, content, rows in fetched:
        path, status = land(settings, SOURCE, f"vektis_zvw_{level}_{year}.csv", content)
        landed.append(Landed(SOURCE, str(year), path, rows, status, source_url))
    return landed


def new_periods(settings: Settings | None = None) -> list[int]:
    """Years after the last landed one (from `vektis_from_year`) up to last year."""
    settings = settings or get_settings()
    folder = settings.landing_dir / SOURCE
    landed = [int(p.stem[-4:]) for p in folder.glob("vektis_zvw_gemeente_*.csv")] if folder.exists() else []
    start = max([settings.vektis_from_year, *[y + 1 for y in landed]])
    return list(range(start, date.today().year))


def fetch(years: list[int] | None = None, settings: Settings | None = None) -> list[Landed]:
    """The given years, or every year not landed yet that Vektis has published (404: not yet)."""
    settings = settings or get_settings()
    if years:
        return [item for year in years for item in fetch_year(year, settings)]
    landed = []
    for year in new_periods(settings):
        try:
            landed += fetch_year(year, settings)
        except FetchError as exc:
            if "HTTP 404" not in str(exc):
                raise
            log.info("Vektis %s: not published yet", year)
    return landed


defs = fetch_definitions(
    SOURCE,
    "vektis",
    lambda years: fetch(years),
    op="Fetch Vektis Zvw open data (the given years, or years not landed yet) into var/landing/vektis_zvw/.",
    job="Fetch Vektis Zvw open data per gemeente and postcode-3; the landing sensor ingests it.",
    schedule="Once a year, look for Vektis years not landed yet and fetch those that are published.",
    nothing_new="Vektis: no new year published",
)
