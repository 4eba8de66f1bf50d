"""The ingestion contract on CBS KWB deliveries: bad input is quarantined, never lost, never fatal."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from dagster_project.lib import warehouse
from dagster_project.settings import Settings
from dagster_project.sources import cbs_kwb
from tests.conftest import KWB_FIXTURE


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "var")


def deliver(tmp_path: Path, text: str | bytes, name: str = "kwb_2022.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def ingest(settings: Settings, path: Path) -> dict:
    with warehouse.connect(settings) as con:
        return cbs_kwb.ingest_file(path, con, settings)


def raw_rows(settings: Settings, where: str = "true") -> int:
    with warehouse.connect(settings, read_only=True) as con:
        return con.execute(f"select count(*) from raw.cbs_kwb where {where}").fetchone()[0]


def reasons_of(settings: Settings) -> pd.DataFrame:
    files = list((settings.quarantine_dir / "cbs_kwb").glob("*/reasons.csv"))
    assert len(files) == 1, files
    return pd.read_csv(files[0])


FIXTURE_TEXT = KWB_FIXTURE.read_text()
FIXTURE_ROWS = FIXTURE_TEXT.count("\n") - 1


def test_clean_file_is_accepted_whole(settings, tmp_path):
    result = ingest(settings, deliver(tmp_path, FIXTURE_TEXT))
    assert result == {"file": "kwb_2022.csv", "status": "accepted", "rows": FIXTURE_ROWS, "rejected": 0}
    assert raw_rows(settings) == FIXTURE_ROWS
    assert raw_rows(settings, "wijkenenbuurten = 'GM0501' and _period = '2022'") == 1
    assert list((settings.archive_dir / "cbs_kwb").glob("*.parquet"))


def test_secret_values_become_null(settings, tmp_path):
    ingest(settings, deliver(tmp_path, FIXTURE_TEXT))
    assert raw_rows(settings, "gemiddeldinkomenperinwoner is null") >= 1


def test_bad_rows_are_quarantined_and_the_rest_continues(settings, tmp_path):
    lines = FIXTURE_TEXT.splitlines()
    lines[3] = lines[3].replace("BU05010000", "BU0501000X")  # a wrong code (both code columns)
    lines[5] = lines[5].replace(";2414;", ";-2414;")  # a negative population
    lines.append(lines[10])  # a duplicated area
    result = ingest(settings, deliver(tmp_path, "\n".join(lines) + "\n"))
    reasons = reasons_of(settings)
    assert result["status"] == "accepted"
    assert set(reasons["row"]) == {4, 6, 11, len(lines)}
    bad_code = reasons[reasons["row"] == 4].iloc[0]
    assert bad_code["column"] in {"WijkenEnBuurten", "Codering"}
    assert "str_matches" in bad_code["rule"]
    assert "kwb_2022.csv, row 4" in bad_code["message"]
    assert "AantalInwoners" in set(reasons[reasons["row"] == 6]["column"])
    assert raw_rows(settings) == FIXTURE_ROWS - 3  # the wrong code, the negative, both duplicates
    rejected = next((settings.quarantine_dir / "cbs_kwb").glob("*/rejected_rows.csv")).read_text()
    assert "BU0501000X" in rejected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (FIXTURE_TEXT.replace("ë", "e").encode("utf-16"), "not UTF-8"),
        (FIXTURE_TEXT.replace(";", ","), "delimiter"),
        (FIXTURE_TEXT[: len(FIXTURE_TEXT) // 2], "truncated"),
        (b"", "empty"),
        (FIXTURE_TEXT.splitlines()[0] + "\n", "no rows"),
        (FIXTURE_TEXT.replace('"AantalInwoners_5"', '"Inwoners_5"'), "missing columns AantalInwoners"),
    ],
    ids=["encoding", "delimiter", "truncated", "empty", "header-only", "wrong-columns"],
)
def test_unreadable_file_is_quarantined_whole_with_one_message(settings, tmp_path, content, expected):
    result = ingest(settings, deliver(tmp_path, content))
    assert result["status"] == "rejected"
    reasons = reasons_of(settings)
    assert len(reasons) == 1 and expected in reasons.loc[0, "message"]
    assert "kwb_2022.csv" in reasons.loc[0, "message"]
    quarantined = next((settings.quarantine_dir / "cbs_kwb").glob("*/kwb_2022.csv"))
    assert quarantined.read_bytes() == (content if isinstance(content, bytes) else content.encode())


def test_bad_delivery_leaves_earlier_data_in_place(settings, tmp_path):
    ingest(settings, deliver(tmp_path, FIXTURE_TEXT))
    ingest(settings, deliver(tmp_path, FIXTURE_TEXT[:100]))
    assert raw_rows(settings) == FIXTURE_ROWS


def test_identical_redelivery_is_a_no_op(settings, tmp_path):
    path = deliver(tmp_path, FIXTURE_TEXT)
    ingest(settings, path)
    assert ingest(settings, path)["status"] == "unchanged"
    assert raw_rows(settings) == FIXTURE_ROWS


def test_corrected_redelivery_supersedes_its_period(settings, tmp_path):
    ingest(settings, deliver(tmp_path, FIXTURE_TEXT))
    corrected = "\n".join(FIXTURE_TEXT.splitlines()[:-2]) + "\n"
    ingest(settings, deliver(tmp_path, corrected))
    assert raw_rows(settings) == FIXTURE_ROWS - 2
    with warehouse.connect(settings, read_only=True) as con:
        batches = con.execute("select count(distinct _batch_id) from raw.cbs_kwb").fetchone()[0]
    assert batches == 1


def test_file_name_must_name_the_year(settings, tmp_path):
    result = ingest(settings, deliver(tmp_path, FIXTURE_TEXT, name="kerncijfers.csv"))
    assert result["status"] == "rejected" and "kwb_<year>.csv" in result["message"]


def test_temporary_files_are_not_picked_up(settings):
    landing = settings.landing_dir / "cbs_kwb"
    landing.mkdir(parents=True)
    for name in ("kwb_2022.csv.part", ".kwb_2023.csv", "kwb_2024.csv.tmp", "kwb_2021.csv"):
        shutil.copy(KWB_FIXTURE, landing / name)
    from dagster_project.lib.ingest import landed_files

    assert [p.name for p in landed_files(settings, "cbs_kwb")] == ["kwb_2021.csv"]
