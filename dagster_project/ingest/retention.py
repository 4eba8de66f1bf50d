"""Retention of raw deliveries in `landing/`.

A delivered file holds what ingestion exists to remove: BSNs, birth dates, addresses. Once it is
ingested, the warehouse and the archive hold everything needed of it, pseudonymised; the file
itself is kept only as long as `MMR_LANDING_RETENTION_DAYS` says (0, the default: removed right
after its successful ingest; `keep`: kept, for an installation that manages its landing folder
itself). Only files ingested successfully (accepted, or already ingested and unchanged) are
removed; a rejected delivery stays for the supplier to correct.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from dagster_project.settings import Settings

#: Ingest outcomes after which the delivery is no longer needed in landing/.
DONE = frozenset({"accepted", "unchanged"})


def prune_landing(settings: Settings, source: str, results: Iterable[dict], now: float | None = None) -> list[Path]:
    """Remove the ingested deliveries of `source` older than the retention; returns what was removed."""
    days = settings.landing_retention_days
    if days is None:
        return []
    now = time.time() if now is None else now
    folder = settings.landing_dir / source
    removed = []
    for result in results:
        if result.get("status") not in DONE or "file" not in result:
            continue
        path = folder / result["file"]
        if path.is_file() and now - path.stat().st_mtime >= days * 86_400:
            path.unlink()
            removed.append(path)
    return removed
