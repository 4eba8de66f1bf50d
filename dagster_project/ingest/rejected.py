"""What ingestion rejects, kept with why under `var/quarantine/<source>/<batch>/`: a file
rejected whole with one reason, or the broken rows of the files of a chunk, masked, with every
rule each breaks (`reasons.csv`: row, column, rule, message; `rejected_rows.csv`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from dagster_project.ingest.checks import messages
from dagster_project.ingest.contract import all_rules
from dagster_project.ingest.spec import REASON_COLUMNS, Batch, SourceSpec
from dagster_project.settings import Settings


def quarantine(settings: Settings, batch: Batch, rows: pd.DataFrame | None, reasons: pd.DataFrame) -> Path:
    """Keep what was rejected, with why, under `var/quarantine/<source>/<batch>/`."""
    folder = settings.quarantine_dir / batch.source / batch.batch_id
    folder.mkdir(parents=True, exist_ok=True)
    reasons.to_csv(folder / "reasons.csv", index=False)
    if rows is not None and len(rows):
        rows.to_csv(folder / "rejected_rows.csv", sep=";", index=True)
    return folder


def quarantine_rows(
    settings: Settings,
    spec: SourceSpec,
    key: bytes,
    delivered: pa.Table,
    batches: list[Batch],
    broken: pa.Table,
    bad: np.ndarray,
) -> dict[int, int]:
    """Write `reasons.csv` and the masked `rejected_rows.csv` of every file of a chunk with broken
    rows (`broken`: `_i`, `rule_id` over `delivered`, whose `_file` indexes `batches`; `bad`: its
    distinct `_i`, sorted); returns the number of rejected rows per file."""
    contract = spec.validate.contract
    rules = all_rules(contract)
    rows = delivered.take(pa.array(bad, pa.int64())).select([*contract.columns, "_row", "_file", "_i"]).to_pandas()
    rows = rows.set_index("_i")
    ids = broken["_i"].to_numpy()
    rule_ids = broken["rule_id"].to_numpy()
    reasons = pd.DataFrame(
        {
            "_i": ids,
            "_file": rows["_file"].reindex(ids).to_numpy(),
            "row": rows["_row"].reindex(ids).to_numpy(),
            "column": pd.Series([rules[i].column for i in rule_ids], dtype=object),
            "rule": pd.Series([rules[i].rule for i in rule_ids], dtype=object),
        }
    )
    names = np.array([batch.path.name for batch in batches], dtype=object)
    reasons["message"] = messages(reasons, rows, contract, pd.Series(names[reasons["_file"]], index=reasons.index))
    as_delivered = rows.drop(columns=["_file"]).rename(columns={"_row": "row"}).set_index("row", append=True)
    masked = spec.mask(as_delivered.reset_index("_i", drop=True), key)
    masked["_file"] = rows["_file"].to_numpy()
    counts = {}
    masked_by_file = dict(tuple(masked.groupby("_file")))
    for index, file_reasons in reasons.groupby("_file"):
        file_rows = masked_by_file[index].drop(columns=["_file"])
        file_reasons = file_reasons[REASON_COLUMNS].reset_index(drop=True)
        quarantine(settings, batches[index], file_rows, file_reasons)
        counts[int(index)] = int(file_reasons["row"].nunique())
    return counts
