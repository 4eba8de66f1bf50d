"""Which deliveries a failing dbt test holds back, and what holding back does to the warehouse."""

import json
from datetime import datetime

import duckdb
import pandas as pd
import pytest

from dagster_project import holdback
from dagster_project.dbt import dbt_project
from dagster_project.lib import warehouse
from dagster_project.ops import runlog
from dagster_project.settings import Settings


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(dbt_project().manifest_path.read_text())


def dbt_test(manifest: dict, prefix: str) -> str:
    return next(key for key in manifest["nodes"] if key.startswith(f"test.mmr.{prefix}"))


def test_a_test_on_vektis_rows_points_at_the_vektis_raw_table(manifest):
    failing = dbt_test(manifest, "stg_vektis__zvw_gemeente_insured_years_at_most_persons")
    assert holdback.raw_tables(manifest, failing) == ["vektis_zvw_gemeente"]
    relationship = dbt_test(manifest, "relationships_fct_zvw_cost_period_key")
    assert holdback.raw_tables(manifest, relationship) == ["vektis_zvw_gemeente"]


def test_a_test_on_the_core_blocks(manifest):
    assert holdback.raw_tables(manifest, dbt_test(manifest, "not_null_columns_dim_area")) is None
    assert holdback.raw_tables(manifest, dbt_test(manifest, "unique_dim_period_period_key")) is None


def test_an_error_is_never_held_back(manifest):
    failing = dbt_test(manifest, "stg_vektis__zvw_gemeente_insured_years_at_most_persons")
    results = {"results": [{"unique_id": failing, "status": "fail", "failures": 3, "message": "Got 3 results"}]}
    assert [t.name for t in holdback.failed_tests(results, manifest)] == [
        "stg_vektis__zvw_gemeente_insured_years_at_most_persons"
    ]
    results["results"].append({"unique_id": "model.mmr.dim_area", "status": "error", "message": "Binder Error"})
    assert holdback.failed_tests(results, manifest) == []


def test_only_batches_since_the_last_publish_are_held_back_and_the_superseded_one_returns(tmp_path, manifest):
    settings = Settings(home=tmp_path / "var", pseudonym_key="test-key")
    settings.warehouse_dir.mkdir(parents=True)
    archive = settings.archive_dir / "vektis_zvw"
    archive.mkdir(parents=True)
    old = pd.DataFrame({"jaar": [2021, 2021], "_period": "2021", "_batch_id": "old-2021", "_row": [2, 3]})
    old.to_parquet(archive / "old-2021.parquet")
    old.to_parquet(archive / "old-2021-delivered-again.parquet")  # the same batch, archived twice: one copy returns
    with duckdb.connect(str(settings.build_db)) as con:
        con.execute("create schema raw")
        con.execute("create schema audit")
        con.execute(warehouse.INGESTION_LOG_DDL)
        con.execute("create table audit.publish_log (published_at timestamp, status varchar)")
        rows = [
            ("b-2015", "vektis_zvw_gemeente_2015.csv", "2015", datetime(2026, 1, 1)),
            ("old-2021", "vektis_zvw_gemeente_2021.csv", "2021", datetime(2026, 1, 2)),
            ("new-2021", "vektis_zvw_gemeente_2021.csv", "2021", datetime(2026, 3, 1)),
        ]
        for batch, name, period, at in rows:
            con.execute(
                "insert into raw.ingestion_log (batch_id, source, file_name, period, status, message, ingested_at) "
                "values (?, 'vektis_zvw', ?, ?, 'accepted', '', ?)",
                [batch, name, period, at],
            )
        con.execute("insert into audit.publish_log values ('2026-02-01', 'published')")
        con.execute(
            "create table raw.vektis_zvw_gemeente as "
            "select * from (values (2015, '2015', 'b-2015', 2), (2021, '2021', 'new-2021', 2), "
            "(2021, '2021', 'new-2021', 3), (2021, '2021', 'new-2021', 4)) as t(jaar, _period, _batch_id, _row)"
        )
    failing = dbt_test(manifest, "stg_vektis__zvw_gemeente_insured_years_at_most_persons")
    failed = [holdback.FailedTest(failing, "insured_years_at_most_persons", 3, "Got 3 results")]
    held = holdback.hold_back(settings, manifest, failed)
    assert [(h.batch_id, h.rows) for h in held] == [("new-2021", 3)]
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        left = con.execute("select _batch_id, count(*) from raw.vektis_zvw_gemeente group by 1 order by 1").fetchall()
        log = dict(con.execute("select batch_id, status from raw.ingestion_log").fetchall())
    assert left == [("b-2015", 1), ("old-2021", 2)]
    assert log == {"b-2015": "accepted", "old-2021": "accepted", "new-2021": "held_back"}
    folder = settings.quarantine_dir / "vektis_zvw" / "new-2021"
    assert len(pd.read_csv(folder / "held_back_rows.csv", sep=";")) == 3
    reasons = pd.read_csv(folder / "reasons.csv", dtype=str, keep_default_na=False)
    assert list(reasons["rule"]) == ["dbt:insured_years_at_most_persons"]
    assert "vektis_zvw_gemeente_2021.csv" in reasons["message"][0]
    assert ("new-2021", "held_back") in runlog.query(settings, "select batch_id, status from ingestion_log")
