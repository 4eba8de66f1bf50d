"""Vektis open data connector: "Open Databestand Zorgverzekeringswet" per gemeente and postcode-3.

Vektis publishes one CSV per year and level at
`<MMR_VEKTIS_URL>/<year>/Vektis Open Databestand Zorgverzekeringswet <year> - <level>.csv`
(older years and re-issues live elsewhere, see `PATHS`; `mmr fetch vektis --url` takes any URL).
The published layout drifts between years; the connector reads it with `vektis_layout` (the
same reading the ingestion does) and lands it as `vektis_zvw/vektis_zvw_<level>_<year>.csv` in
the delivered shape: UTF-8, `;`, decimal point, upper-case names, `JAAR` from the requested year,
age classes as the contract writes them, every known cost category (empty, i.e. unknown, where the
year has none) and KOSTEN_ONBEKENDE_CATEGORIE for categories no year listed so far (with a warning).

Rows Vektis puts in its rest category (fewer than 10 persons, unknown area) are kept: the
contract quarantines them with a reason instead of the connector dropping them unseen.
"""

import csv
from datetime import date
from urllib.parse import quote

from dagster_project.ingest import UnreadableFile
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


def to_delivered(raw: bytes, year: int, level: str, origin: str) -> tuple[bytes, int]:
    """Map one published Vektis file onto the `vektis_zvw` delivered-file contract."""
    head = raw.lstrip()[:200].lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml")):
        raise FetchError(f"Vektis {level} {year}: {origin} returned a web page, not a CSV; nothing was landed")
    try:
        frame = vektis_zvw.read_published(raw, year, origin, LEVELS[level])
    except UnreadableFile as exc:
        raise FetchError(f"Vektis {level} {year}: {exc}; nothing was landed") from None
    contract = vektis_zvw.GEMEENTE_CONTRACT if level == "gemeente" else vektis_zvw.POSTCODE3_CONTRACT
    content = frame[contract.columns].to_csv(sep=";", index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
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
