"""What the CBS and Vektis connectors share: fetch over HTTP, then land the result as a delivery.

A connector never writes to the warehouse. It turns what a publisher serves into the file a
source's contract already validates and puts it in `var/landing/<source>/`, so the normal
ingestion (contract, quarantine, log, archive) and the landing sensor take over. Everything is
fetched before anything is written; the file is written under a temporary name the sensor ignores
and renamed into place in one step, so a failed or interrupted fetch lands nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import requests

from dagster_project.settings import Settings

log = logging.getLogger("mmr.connectors")


class FetchError(Exception):
    """A fetch failed; the message says what, from where, and that nothing was landed."""


@dataclass(frozen=True)
class Landed:
    source: str
    period: str
    path: Path
    rows: int
    status: str  # landed | unchanged
    origin: str

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "period": self.period,
            "file": self.path.name,
            "rows": self.rows,
            "status": self.status,
            "origin": self.origin,
        }


def land(settings: Settings, source: str, name: str, content: bytes) -> tuple[Path, str]:
    """Write `content` as `var/landing/<source>/<name>` atomically; identical bytes are left alone."""
    folder = settings.landing_dir / source
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if target.exists() and target.read_bytes() == content:
        return target, "unchanged"
    partial = folder / f"{name}.part"
    partial.write_bytes(content)
    os.replace(partial, target)
    return target, "landed"


def http_get(url: str, what: str, timeout: float) -> requests.Response:
    """GET a URL or raise FetchError naming the source, the status and the URL."""
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise FetchError(f"{what}: cannot reach {url} ({type(exc).__name__}); nothing was landed") from None
    if response.status_code != 200:
        raise FetchError(f"{what}: HTTP {response.status_code} from {url}; nothing was landed")
    return response
