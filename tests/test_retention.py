"""Retention of raw deliveries: ingested files leave landing/ after MMR_LANDING_RETENTION_DAYS."""

import os
import time
from pathlib import Path

from dagster_project.ingest.retention import prune_landing
from dagster_project.settings import Settings


def landed(home: Path, name: str, age_days: float) -> Path:
    path = home / "landing" / "gemeente_jeugd" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("bsn;geboortedatum\n123456782;2010-01-01\n")
    stamp = time.time() - age_days * 86_400
    os.utime(path, (stamp, stamp))
    return path


def test_ingested_deliveries_older_than_the_retention_are_removed(tmp_path):
    old, new = landed(tmp_path, "old.csv", 10), landed(tmp_path, "new.csv", 1)
    rejected, unchanged = landed(tmp_path, "rejected.csv", 10), landed(tmp_path, "unchanged.csv", 10)
    results = [
        {"file": "old.csv", "status": "accepted"},
        {"file": "new.csv", "status": "accepted"},
        {"file": "rejected.csv", "status": "rejected"},
        {"file": "unchanged.csv", "status": "unchanged"},
    ]
    removed = prune_landing(Settings(home=tmp_path, landing_retention_days=7), "gemeente_jeugd", results)
    assert sorted(p.name for p in removed) == ["old.csv", "unchanged.csv"]
    assert not old.exists() and not unchanged.exists()
    assert new.exists(), "younger than the retention"
    assert rejected.exists(), "a rejected delivery stays for the supplier to correct"


def test_zero_days_the_default_removes_at_once_and_keep_keeps_everything(tmp_path, monkeypatch):
    path = landed(tmp_path, "now.csv", 0)
    results = [{"file": "now.csv", "status": "accepted"}]
    monkeypatch.setenv("MMR_LANDING_RETENTION_DAYS", "keep")
    assert prune_landing(Settings(home=tmp_path), "gemeente_jeugd", results) == []
    assert path.exists()
    monkeypatch.delenv("MMR_LANDING_RETENTION_DAYS")
    assert Settings(home=tmp_path).landing_retention_days == 0
    assert prune_landing(Settings(home=tmp_path), "gemeente_jeugd", results) == [path]
    assert not path.exists()
