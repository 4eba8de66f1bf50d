"""`mmr withdraw` on a real ingestion of a CBS delivery (the whole pipeline: tests/test_service.py)."""

import os
import shutil
import time

import pytest

from dagster_project import ingest
from dagster_project.ingest.withdraw import NothingToWithdraw, withdraw
from dagster_project.lib import warehouse
from dagster_project.ops import runlog
from dagster_project.settings import Settings
from dagster_project.sources import cbs_kwb
from tests.conftest import KWB_FIXTURE


@pytest.fixture
def settings(tmp_path) -> Settings:
    settings = Settings(home=tmp_path / "var")
    folder = settings.landing_dir / "cbs_kwb"
    folder.mkdir(parents=True)
    header, first, second, *rest = KWB_FIXTURE.read_text().splitlines(keepends=True)
    # the same rows in another order: other bytes, so another delivery
    for year, text in (("2022", [header, first, second, *rest]), ("2021", [header, second, first, *rest])):
        landed = folder / f"kwb_{year}.csv"
        landed.write_text("".join(text))
        os.utime(landed, ns=(time.time_ns() - 10**10,) * 2)
    ingest.ingest_source([cbs_kwb.SPEC], settings)
    return settings


def rows(settings: Settings) -> dict[str, int]:
    with warehouse.connect(settings, read_only=True) as con:
        return dict(con.execute("select _source_file, count(*) from raw.cbs_kwb group by 1").fetchall())


def test_withdraw_removes_exactly_the_rows_of_one_delivery(settings):
    before = rows(settings)
    assert set(before) == {"kwb_2022.csv", "kwb_2021.csv"}

    done = withdraw(settings, "cbs_kwb", "kwb_2021.csv")

    assert rows(settings) == {"kwb_2022.csv": before["kwb_2022.csv"]}
    assert done.raw_rows == {"raw.cbs_kwb": before["kwb_2021.csv"]} and done.periods == ["2021"]
    [batch] = done.batches
    assert (settings.archive_dir / "cbs_kwb" / "withdrawn" / f"{batch}.json").exists()
    assert not (settings.landing_dir / "cbs_kwb" / "kwb_2021.csv").exists()
    assert (settings.home / "withdrawn" / "cbs_kwb" / "kwb_2021.csv").exists()
    logged = runlog.query(settings, "select file_name, status from ingestion_log order by file_name")
    assert logged == [("kwb_2021.csv", "withdrawn"), ("kwb_2022.csv", "accepted")]

    with pytest.raises(NothingToWithdraw, match="withdrawn before"):
        withdraw(settings, "cbs_kwb", batch)
    with pytest.raises(NothingToWithdraw, match="not in the ingestion log"):
        withdraw(settings, "cbs_kwb", "kwb_1999.csv")


def test_a_withdrawn_delivery_landed_again_is_ingested_again(settings):
    before = rows(settings)
    withdraw(settings, "cbs_kwb", "kwb_2021.csv")
    shutil.move(settings.home / "withdrawn" / "cbs_kwb" / "kwb_2021.csv", settings.landing_dir / "cbs_kwb")
    ingest.ingest_source([cbs_kwb.SPEC], settings)
    assert rows(settings) == before
