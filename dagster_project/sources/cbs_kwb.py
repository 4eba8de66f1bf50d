"""CBS Kerncijfers wijken en buurten (KWB): one file per year, one row per gemeente, wijk and buurt.

Delivered as StatLine's typed-dataset CSV: `;`-separated, area codes space-padded to ten
characters, a lone `.` where CBS keeps a value secret, and column names that carry a numeric
suffix which changes from year to year (`AantalInwoners_5`). The raw layer drops the suffix and
lowercases the name, so one raw table holds every year.
"""

import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from dagster_project.lib import ingest, warehouse
from dagster_project.settings import get_settings

SOURCE = "cbs_kwb"
FILE_PATTERN = re.compile(r"^kwb_(?P<year>\d{4})\.csv$")
AREA_CODE = r"^(GM\d{4}|WK\d{6}|BU\d{8})$"

KEY_COLUMNS = ["WijkenEnBuurten", "Gemeentenaam", "SoortRegio", "Codering"]
NUMERIC_COLUMNS = [
    "AantalInwoners",
    "Mannen",
    "Vrouwen",
    "k_0Tot15Jaar",
    "k_15Tot25Jaar",
    "k_25Tot45Jaar",
    "k_45Tot65Jaar",
    "k_65JaarOfOuder",
    "HuishoudensTotaal",
    "Eenpersoonshuishoudens",
    "HuishoudensZonderKinderen",
    "HuishoudensMetKinderen",
    "GemiddeldeHuishoudensgrootte",
    "Bevolkingsdichtheid",
    "Eenouderhuishoudens",
    "GemiddeldInkomenPerInwoner",
    "HuishoudensMetEenLaagInkomen",
    "PersonenPerSoortUitkeringBijstand",
    "PersonenPerSoortUitkeringAO",
    "PersonenPerSoortUitkeringWW",
    "PersonenPerSoortUitkeringAOW",
    "JongerenMetJeugdzorgInNatura",
    "WmoClienten",
]
TEXT_COLUMNS = ["MeestVoorkomendePostcode", "Dekkingspercentage"]


def strip_suffix(column: str) -> str:
    """`AantalInwoners_5` → `AantalInwoners`; `k_0Tot15Jaar_8` → `k_0Tot15Jaar`."""
    return re.sub(r"_\d+$", "", column)


def _cbs_number(value: pd.Series) -> pd.Series:
    return pd.to_numeric(value.str.strip().replace({".": None, "": None}), errors="coerce").astype("float64")


CONTRACT = pa.DataFrameSchema(
    {
        "WijkenEnBuurten": pa.Column(str, pa.Check.str_matches(AREA_CODE)),
        "Codering": pa.Column(str, pa.Check.str_matches(AREA_CODE)),
        "SoortRegio": pa.Column(str, pa.Check.isin(["Gemeente", "Wijk", "Buurt"])),
        "Gemeentenaam": pa.Column(str, pa.Check.str_length(min_value=1)),
        **{name: pa.Column(float, pa.Check.ge(0), nullable=True, required=False) for name in NUMERIC_COLUMNS},
        "AantalInwoners": pa.Column(float, pa.Check.ge(0), nullable=True),
        "HuishoudensMetEenLaagInkomen": pa.Column(float, pa.Check.in_range(0, 100), nullable=True),
    },
    checks=pa.Check(lambda df: df["WijkenEnBuurten"] == df["Codering"], name="code_matches_codering"),
    unique=["WijkenEnBuurten"],
    strict=False,
)


def parse(path: Path) -> pd.DataFrame:
    """Read one delivered KWB file into typed columns without the yearly numeric suffix."""
    frame = ingest.read_delimited(path, KEY_COLUMNS + ["AantalInwoners"], normalise=strip_suffix)
    for column in KEY_COLUMNS + TEXT_COLUMNS:
        if column in frame:
            frame[column] = frame[column].str.strip()
    for column in NUMERIC_COLUMNS:
        if column in frame:
            frame[column] = _cbs_number(frame[column])
    return frame


def to_raw(accepted: pd.DataFrame, batch: ingest.Batch) -> pd.DataFrame:
    raw = accepted.drop(columns=[c for c in ("ID",) if c in accepted]).copy()
    raw.columns = [c.lower() for c in raw.columns]
    raw["_period"] = batch.period
    raw["_batch_id"] = batch.batch_id
    raw["_source_file"] = batch.path.name
    raw["_row"] = accepted.index.to_numpy()
    return raw.reset_index(drop=True)


def ingest_file(path: Path, con, settings) -> dict:
    """One file, one batch: contract, quarantine, archive, raw table, ingestion log."""
    match = FILE_PATTERN.match(path.name)
    period = match["year"] if match else "unknown"
    batch = ingest.Batch(SOURCE, path, ingest.content_hash(path), period)
    if warehouse.already_ingested(con, SOURCE, batch.content_hash):
        return {"file": path.name, "status": "unchanged"}
    log = {
        "batch_id": batch.batch_id,
        "source": SOURCE,
        "file_name": path.name,
        "content_hash": batch.content_hash,
        "period": period,
    }
    try:
        if not match:
            raise ingest.UnreadableFile(f"{path.name}: file name must be kwb_<year>.csv")
        frame = parse(path)
        accepted, reasons = ingest.apply_contract(frame, CONTRACT, path.name)
    except ingest.UnreadableFile as exc:
        reasons = pd.DataFrame([{"row": 0, "column": "", "rule": "readable_file", "message": str(exc)}])
        folder = ingest.quarantine(settings, batch, None, reasons)
        (folder / path.name).write_bytes(path.read_bytes())
        warehouse.record_batch(
            con, **log, rows_read=0, rows_accepted=0, rows_rejected=0, status="rejected", message=str(exc)
        )
        return {"file": path.name, "status": "rejected", "message": str(exc)}
    if len(reasons):
        ingest.quarantine(settings, batch, frame.loc[frame.index.isin(reasons["row"])], reasons)
    raw = to_raw(accepted, batch)
    ingest.archive(settings, batch, raw)
    warehouse.replace_period(con, SOURCE, period, raw)
    rejected = int(reasons["row"].nunique()) if len(reasons) else 0
    warehouse.record_batch(
        con,
        **log,
        rows_read=len(frame),
        rows_accepted=len(accepted),
        rows_rejected=rejected,
        status="accepted" if not rejected else "partial",
        message=f"{rejected} rows quarantined" if rejected else "",
    )
    return {"file": path.name, "status": "accepted", "rows": len(accepted), "rejected": rejected}


@dg.asset(
    key=["raw", "cbs", "kwb"],
    group_name="cbs",
    kinds={"duckdb", "csv"},
)
def cbs_kwb(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """CBS Kerncijfers wijken en buurten, every delivered year, in `raw.cbs_kwb`."""
    settings = get_settings()
    files = ingest.landed_files(settings, SOURCE)
    results = []
    with warehouse.connect(settings) as con:
        for path in files:
            result = ingest_file(path, con, settings)
            context.log.info(f"{SOURCE}: {result}")
            results.append(result)
        rows = warehouse.count_rows(con, f"raw.{SOURCE}")
    return dg.MaterializeResult(
        metadata={
            "files": len(files),
            "rejected_files": sum(r["status"] == "rejected" for r in results),
            "quarantined_rows": sum(r.get("rejected", 0) for r in results),
            "raw_rows": dg.MetadataValue.int(int(rows)),
        }
    )


defs = dg.Definitions(assets=[cbs_kwb])
