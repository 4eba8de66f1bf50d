"""Every source ingests the generator's demo deliveries; bad deliveries are quarantined, persons
never leave ingestion with their BSN, and re-deliveries supersede only their own period."""

import hashlib
import hmac
import json
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from dagster_project import holdback, ingest
from dagster_project.dbt import dbt_project
from dagster_project.ingest.pseudonymise import household_key, pseudonymise_bsn, valid_bsn
from dagster_project.lib import warehouse
from dagster_project.settings import Settings
from dagster_project.sources import (
    budgetten,
    cbs_wijk_zorg,
    clientervaring,
    contracten,
    gebieden,
    gemeente_jeugd,
    gemeente_participatie,
    gemeente_wmo,
    interventies,
    vektis_zvw,
)

MUNICIPAL = [gemeente_jeugd, gemeente_wmo, gemeente_participatie]
YEARLY = [cbs_wijk_zorg, vektis_zvw, clientervaring, budgetten, contracten, interventies, gebieden]
# A slice of the monthly municipal deliveries keeps the test fast: two gemeenten, two months.
SLICE = re.compile(r"_(GM0489|GM0501)_2022-0[12]\.csv$")
KEY = "test-key"


def make_settings(home: Path, key: str = KEY) -> Settings:
    return Settings(home=home, pseudonym_key=key)


def specs_of(module) -> list[ingest.SourceSpec]:
    return getattr(module, "SPECS", None) or [module.SPEC]


def delivered(demo: Path, module) -> list[Path]:
    files = sorted(p for p in (demo / module.SOURCE).iterdir() if p.is_file())
    return [p for p in files if SLICE.search(p.name)] if module in MUNICIPAL else files


def land(settings: Settings, module, files: list[Path]) -> None:
    landing = settings.landing_dir / module.SOURCE
    landing.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copy(path, landing / path.name)


def run(settings: Settings, module) -> dict:
    return ingest.ingest_source(specs_of(module), settings)


def ingest_one(settings: Settings, module, path: Path) -> dict:
    with warehouse.connect(settings) as con:
        return ingest.ingest_file(module.SPEC, path, con, settings)


def data_rows(path: Path) -> int:
    if path.suffix == ".geojson":
        return path.read_text().count('"type":"Feature"')
    return len(path.read_text(encoding="utf-8").splitlines()) - 1


def query(settings: Settings, sql: str) -> list[tuple]:
    with warehouse.connect(settings, read_only=True) as con:
        return con.execute(sql).fetchall()


def reasons_of(settings: Settings, source: str) -> pd.DataFrame:
    files = list((settings.quarantine_dir / source).glob("*/reasons.csv"))
    assert len(files) == 1, files
    return pd.read_csv(files[0], dtype={"column": str})


def with_lines(path: Path, target: Path, edit) -> Path:
    lines = path.read_text(encoding="utf-8").splitlines()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")
    return target


def field(line: str, columns: list[str], name: str, value: str | None = None) -> str:
    values = line.split(";")
    if value is None:
        return values[columns.index(name)]
    values[columns.index(name)] = value
    return ";".join(values)


# --- pseudonymisation ----------------------------------------------------------------------------


def test_valid_bsn_is_the_11_proef():
    values = pd.Series(["111222333", "123456782", "123456789", "000000000", "12345678", "1234567a", "", None])
    assert valid_bsn(values).tolist() == [True, True, False, False, False, False, False, False]
    assert valid_bsn(pd.Series(["11222333"])).tolist() == [False]
    assert valid_bsn(pd.Series(["011222333", "11222333"])).tolist() == [False, False]


def test_pseudonyms_are_keyed_stable_and_unlinkable_without_the_key():
    bsn = pd.Series(["111222333", "123456782", "111222333"])
    first = pseudonymise_bsn(bsn, b"key-1")
    assert first[0] == first[2] != first[1]
    assert first[0] == int(hmac.new(b"key-1", b"bsn:111222333", hashlib.sha256).hexdigest()[:15], 16)
    assert first.tolist() == pseudonymise_bsn(bsn, b"key-1").tolist()
    assert set(first).isdisjoint(pseudonymise_bsn(bsn, b"key-2"))
    assert not any("111222333" in str(p) for p in first)
    homes = household_key(pd.Series(["2976 ad", "2976AD", "2976AE"]), pd.Series(["007", "7", "7"]), b"key-1")
    assert homes[0] == homes[1] != homes[2]
    with pytest.raises(ValueError):
        pseudonymise_bsn(bsn, b"")


# --- every source on its demo deliveries ---------------------------------------------------------


@pytest.mark.parametrize("module", MUNICIPAL + YEARLY, ids=lambda m: m.SOURCE)
def test_demo_deliveries_are_accepted_whole(tmp_path, demo, module):
    settings = make_settings(tmp_path / "var")
    files = delivered(demo, module)
    land(settings, module, files)
    stats = run(settings, module)
    assert sum(s["files"] for s in stats.values()) == len(files)
    assert all(s["rejected_files"] == 0 and s["quarantined_rows"] == 0 for s in stats.values()), stats
    assert not settings.quarantine_dir.exists() or not any(settings.quarantine_dir.rglob("*.csv"))
    for spec in specs_of(module):
        mine = [p for p in files if spec.file_pattern.match(p.name)]
        assert mine, spec.table
        assert stats[spec.asset_key]["raw_rows"] == sum(data_rows(p) for p in mine)
        periods = {spec.period(spec.file_pattern.match(p.name)) for p in mine}
        assert {p for (p,) in query(settings, f"select distinct _period from raw.{spec.table}")} == periods
        archived = (settings.archive_dir / module.SOURCE).glob("*.parquet")
        assert {p.name for p in mine} <= {f for a in archived for f in pd.read_parquet(a)["_source_file"]}
    log = query(settings, "select status, count(*) from raw.ingestion_log group by status")
    assert log == [("accepted", len(files))]
    assert all(r["status"] == "unchanged" for r in _rerun(settings, module, files))


def _rerun(settings: Settings, module, files: list[Path]) -> list[dict]:
    with warehouse.connect(settings) as con:
        specs = specs_of(module)
        return [
            ingest.ingest_file(next(s for s in specs if s.file_pattern.match(p.name)), p, con, settings) for p in files
        ]


def test_municipal_raw_tables_are_pseudonymised_and_located_in_their_buurt(tmp_path, demo):
    settings = make_settings(tmp_path / "var")
    land(settings, gebieden, [p for p in delivered(demo, gebieden) if p.name.startswith("pc6_gwb_")])
    run(settings, gebieden)
    land(settings, gemeente_jeugd, delivered(demo, gemeente_jeugd))
    run(settings, gemeente_jeugd)
    columns = {name for (name,) in query(settings, "select column_name from (describe raw.gemeente_jeugd)")}
    assert {"bsn_pseudoniem", "huishouden_pseudoniem", "postcode4", "geboortejaar", "buurt_code"} <= columns
    assert not columns & {"bsn", "geboortedatum", "postcode", "huisnummer"}
    ((bad,),) = query(
        settings,
        "select count(*) from raw.gemeente_jeugd where length(postcode4) <> 4 or buurt_code is null "
        "or substr(buurt_code, 3, 6) <> substr(wijk_code, 3, 6) "
        "or substr(wijk_code, 3, 4) <> substr(gemeentecode, 3, 4)",
    )
    assert bad == 0


# --- a delivered BSN is nowhere after ingestion --------------------------------------------------


def _bad_jeugd_file(demo: Path, target_dir: Path) -> tuple[Path, dict[int, str]]:
    """A Jeugd file with one broken row per rule; returns it and {line number: expected rule}."""
    source = demo / "gemeente_jeugd" / "jeugd_GM0489_2022-03.csv"
    columns = gemeente_jeugd.COLUMNS
    expected: dict[int, str] = {}

    def edit(lines: list[str]) -> list[str]:
        bsn = field(lines[2], columns, "bsn")
        broken = bsn[:-1] + str((int(bsn[-1]) + 1) % 10)
        lines[2] = field(lines[2], columns, "bsn", broken)
        expected[3] = "bsn_11_proef"
        lines[4] = field(lines[4], columns, "productcategorie", "99")
        expected[5] = "known_ref_ijw_productcategorie"
        lines[6] = field(lines[6], columns, "bedrag", "-12,50")
        expected[7] = "non_negative"
        start = field(lines[8], columns, "startdatum")
        day, month, year = start.split("-")
        lines[8] = field(lines[8], columns, "einddatum", f"{day}-{month}-{int(year) - 1}")
        expected[9] = "end_not_before_start"
        lines.append(lines[10])  # the same trajectory twice: both rows are held back
        expected[11] = expected[len(lines)] = "unique"
        return lines

    path = with_lines(source, target_dir / source.name, edit)
    return path, expected


def test_bad_rows_are_quarantined_with_their_rule_and_the_rest_is_accepted(tmp_path, demo):
    settings = make_settings(tmp_path / "var")
    path, expected = _bad_jeugd_file(demo, tmp_path / "in")
    result = ingest_one(settings, gemeente_jeugd, path)
    assert result["status"] == "accepted"
    assert result["rejected"] == len(expected)
    assert result["rows"] == data_rows(path) - len(expected)
    reasons = reasons_of(settings, "gemeente_jeugd")
    assert dict(zip(reasons["row"], reasons["rule"], strict=True)) == expected
    assert reasons["message"].str.contains(f"{path.name}, row ").all()
    assert (reasons.loc[reasons["rule"] == "unique", "column"] == "trajectnummer").all()
    ((rows,),) = query(settings, "select count(*) from raw.gemeente_jeugd")
    assert rows == result["rows"]
    rejected = pd.read_csv(next(settings.quarantine_dir.rglob("rejected_rows.csv")), sep=";", dtype=str)
    assert sorted(rejected["row"].astype(int)) == sorted(expected)
    assert not set(rejected.columns) & {"bsn", "geboortedatum", "postcode", "huisnummer"}
    assert rejected["bsn_pseudoniem"].str.fullmatch(r"\d{10,19}").all()


def test_no_delivered_bsn_survives_ingestion(tmp_path, demo):
    settings = make_settings(tmp_path / "var")
    bsns: set[str] = set()
    for module in MUNICIPAL:
        files = delivered(demo, module)
        land(settings, module, files)
        run(settings, module)
        for path in files:
            bsns |= set(pd.read_csv(path, sep=";", dtype=str)["bsn"])
    bad, _ = _bad_jeugd_file(demo, tmp_path / "in")
    ingest_one(settings, gemeente_jeugd, bad)
    unreadable = tmp_path / "in" / "jeugd_GM0489_2022-04.csv"
    unreadable.write_bytes((demo / "gemeente_jeugd" / unreadable.name).read_bytes().replace(b";", b",", 30))
    ingest_one(settings, gemeente_jeugd, unreadable)
    bsns |= set(pd.read_csv(bad, sep=";", dtype=str)["bsn"])
    assert len(bsns) > 1000

    pattern = re.compile(r"\d{8,9}")
    found: set[str] = set()
    with warehouse.connect(settings, read_only=True) as con:
        tables = con.execute("select table_name from information_schema.tables where table_schema = 'raw'").fetchall()
        for (table,) in tables:
            frame = con.execute(f"select * from raw.{table}").df()
            for column in frame.columns:
                values = frame[column].dropna().astype(str)
                found |= set(values) & bsns
                found |= {m for v in values for m in pattern.findall(v)} & bsns
    for parquet in settings.archive_dir.rglob("*.parquet"):
        frame = pd.read_parquet(parquet)
        for column in frame.columns:
            found |= set(frame[column].dropna().astype(str)) & bsns
    quarantined = list(settings.quarantine_dir.rglob("*"))
    assert any(p.name == "rejected_rows.csv" for p in quarantined)
    for path in (p for p in quarantined if p.is_file()):
        found |= set(pattern.findall(path.read_text(encoding="utf-8", errors="replace"))) & bsns
    assert not found


def test_pseudonyms_are_stable_across_runs_and_differ_between_keys(tmp_path, demo):
    path = demo / "gemeente_wmo" / "wmo_GM0489_2022-01.csv"

    def pseudonyms(home: str, key: str) -> list[tuple]:
        settings = make_settings(tmp_path / home, key)
        ingest_one(settings, gemeente_wmo, path)
        return query(settings, "select bsn_pseudoniem, huishouden_pseudoniem from raw.gemeente_wmo order by _row")

    first, again, other = pseudonyms("a", "key-1"), pseudonyms("b", "key-1"), pseudonyms("c", "key-2")
    assert first == again
    assert len(first) == data_rows(path)
    assert {p for row in first for p in row}.isdisjoint({p for row in other for p in row})


def test_pseudonyms_written_as_text_become_the_numbers_ingestion_makes(tmp_path, demo):
    """A raw table and an archive written while pseudonyms were 32 hexadecimal characters: the
    next ingestion makes the table's pseudonyms the numbers it makes now, and a batch the holdback
    restores from the archive gets them too."""
    settings = make_settings(tmp_path / "var")
    first, second = (demo / "gemeente_wmo" / f"wmo_GM0489_2022-0{month}.csv" for month in (1, 2))
    land(settings, gemeente_wmo, [first, second])
    run(settings, gemeente_wmo)
    persons = "select _batch_id, _row, bsn_pseudoniem, huishouden_pseudoniem from raw.gemeente_wmo order by all"
    numbers = query(settings, persons)
    hexadecimal = "lpad(printf('%x', {0}), 15, '0') || '0123456789abcdef0'"
    text = ", ".join(f"{hexadecimal.format(c)} as {c}" for c in warehouse.PSEUDONYM_COLUMNS)
    with warehouse.connect(settings) as con:
        for column in warehouse.PSEUDONYM_COLUMNS:
            con.execute(f"alter table raw.gemeente_wmo alter {column} type varchar using {hexadecimal.format(column)}")
        (archived,) = (settings.archive_dir / "gemeente_wmo").glob("*.parquet")
        con.execute(f"copy (select * replace ({text}) from '{archived}') to '{archived}.old' (format parquet)")
        Path(f"{archived}.old").replace(archived)
        con.execute("create schema if not exists audit")
        con.execute("create table audit.publish_log as select now() as published_at, 'published' as status")
    assert query(settings, "select count(*) from raw.gemeente_wmo where length(bsn_pseudoniem) = 32") == [
        (len(numbers),)
    ]

    corrected = with_lines(first, tmp_path / "in" / first.name, lambda lines: lines[:-1])
    land(settings, gemeente_wmo, [corrected])
    run(settings, gemeente_wmo)
    kinds = query(settings, "select column_type from (describe raw.gemeente_wmo) where column_name like '%pseudoniem'")
    assert kinds == [("BIGINT",), ("BIGINT",)]
    kept = [row for row in numbers if not row[0].startswith(first.stem)]
    assert [row for row in query(settings, persons) if row[0].startswith(second.stem)] == kept

    manifest = json.loads(dbt_project().manifest_path.read_text())
    test = next(key for key in manifest["nodes"] if key.startswith("test.mmr.not_null_columns_stg_gemeente__wmo"))
    held = holdback.hold_back(settings, manifest, [holdback.FailedTest(test, "not_null_columns", 1, "Got 1 result")])
    assert [h.file_name for h in held] == [first.name]
    assert query(settings, persons) == numbers


# --- whole files that cannot be read ------------------------------------------------------------


@pytest.mark.parametrize(
    ("encode", "expected"),
    [
        (lambda text: text.replace("Jeugd", "Jeügd").encode("iso-8859-1"), "not UTF-8"),
        (lambda text: text.replace(";", ",").encode(), "delimiter"),
    ],
    ids=["iso-8859-1", "comma-delimited"],
)
def test_unreadable_municipal_file_is_quarantined_whole(tmp_path, demo, encode, expected):
    settings = make_settings(tmp_path / "var")
    source = demo / "gemeente_jeugd" / "jeugd_GM0489_2022-01.csv"
    path = tmp_path / source.name
    path.write_bytes(encode(source.read_text(encoding="utf-8")))
    result = ingest_one(settings, gemeente_jeugd, path)
    assert result["status"] == "rejected"
    reasons = reasons_of(settings, "gemeente_jeugd")
    assert len(reasons) == 1 and expected in reasons.loc[0, "message"] and source.name in reasons.loc[0, "message"]
    assert reasons.loc[0, "rule"] == "readable_file"
    folder = next((settings.quarantine_dir / "gemeente_jeugd").iterdir())
    assert sorted(p.name for p in folder.iterdir()) == ["reasons.csv"]  # personal data is not copied
    assert query(settings, "select status from raw.ingestion_log") == [("rejected",)]
    assert query(settings, "select count(*) from information_schema.tables where table_name = 'gemeente_jeugd'") == [
        (0,)
    ]


def test_misnamed_file_is_rejected_not_ignored(tmp_path, demo):
    settings = make_settings(tmp_path / "var")
    landing = settings.landing_dir / "gemeente_wmo"
    landing.mkdir(parents=True)
    shutil.copy(demo / "gemeente_wmo" / "wmo_GM0489_2022-01.csv", landing / "wmo_januari.csv")
    stats = run(settings, gemeente_wmo)
    assert stats[gemeente_wmo.SPEC.asset_key]["rejected_files"] == 1
    assert "wmo_<GMcode>_<yyyy-mm>.csv" in reasons_of(settings, "gemeente_wmo").loc[0, "message"]


# --- periods: one gemeente's delivery never replaces another's -----------------------------------


def counts_per_period(settings: Settings, table: str) -> dict[str, int]:
    return dict(query(settings, f"select _period, count(*) from raw.{table} group by _period"))


def test_two_gemeenten_delivering_the_same_month_do_not_overwrite_each_other(tmp_path, demo):
    settings = make_settings(tmp_path / "var")
    a = demo / "gemeente_participatie" / "participatie_GM0489_2022-01.csv"
    b = demo / "gemeente_participatie" / "participatie_GM0501_2022-01.csv"
    ingest_one(settings, gemeente_participatie, a)
    ingest_one(settings, gemeente_participatie, b)
    assert counts_per_period(settings, "gemeente_participatie") == {
        "GM0489:2022-01": data_rows(a),
        "GM0501:2022-01": data_rows(b),
    }


def test_corrected_redelivery_supersedes_only_its_gemeente_month(tmp_path, demo):
    settings = make_settings(tmp_path / "var")
    names = ["jeugd_GM0489_2022-01.csv", "jeugd_GM0489_2022-02.csv", "jeugd_GM0501_2022-01.csv"]
    for name in names:
        ingest_one(settings, gemeente_jeugd, demo / "gemeente_jeugd" / name)
    before = counts_per_period(settings, "gemeente_jeugd")
    corrected = with_lines(demo / "gemeente_jeugd" / names[0], tmp_path / "fix" / names[0], lambda lines: lines[:-3])
    result = ingest_one(settings, gemeente_jeugd, corrected)
    assert result["status"] == "accepted"
    after = counts_per_period(settings, "gemeente_jeugd")
    assert after == {**before, "GM0489:2022-01": before["GM0489:2022-01"] - 3}
    batches = query(
        settings, "select count(distinct _batch_id) from raw.gemeente_jeugd where _period = 'GM0489:2022-01'"
    )
    assert batches == [(1,)]
    assert ingest_one(settings, gemeente_jeugd, corrected)["status"] == "unchanged"


def test_contract_rules_catch_code_formats_and_ranges(tmp_path, demo):
    settings = make_settings(tmp_path / "var")
    columns = clientervaring.COLUMNS
    source = demo / "clientervaring" / "clientervaring_GM0489_2022.csv"

    def edit(lines: list[str]) -> list[str]:
        lines[1] = field(lines[1], columns, "antwoord", "6")
        lines[2] = field(lines[2], columns, "agb_code", "9800")
        lines[3] = field(lines[3], columns, "gemeentecode", "GM9999")
        return lines

    path = with_lines(source, tmp_path / "in" / source.name, edit)
    ingest_one(settings, clientervaring, path)
    reasons = reasons_of(settings, "clientervaring")
    rules = reasons.groupby("row")["rule"].apply(set).to_dict()
    assert rules[2] == {"answer_1_to_5"} and rules[3] == {"agb_code"}
    assert rules[4] == {"known_ref_gemeenten", "matches_file_name"}


# --- the Dagster assets --------------------------------------------------------------------------


def test_assets_have_their_keys_groups_and_metadata(tmp_path, demo, monkeypatch):
    from dagster_project import settings as settings_module

    home = tmp_path / "var"
    monkeypatch.setenv("MMR_HOME", str(home))
    monkeypatch.setenv("MMR_PSEUDONYM_KEY", KEY)
    settings_module.get_settings.cache_clear()
    try:
        settings = settings_module.get_settings()
        land(settings, interventies, delivered(demo, interventies))
        land(settings, vektis_zvw, delivered(demo, vektis_zvw))
        result = dg.materialize([interventies.interventies, vektis_zvw.vektis_zvw])
        assert result.success
        materialized = {
            event.asset_key.to_user_string(): event.step_materialization_data.materialization.metadata
            for event in result.get_asset_materialization_events()
        }
        assert set(materialized) == {"raw/gemeente/interventies", "raw/vektis/zvw_gemeente", "raw/vektis/zvw_postcode3"}
        assert materialized["raw/gemeente/interventies"]["raw_rows"].value == 9
        assert materialized["raw/vektis/zvw_gemeente"]["quarantined_rows"].value == 0
    finally:
        settings_module.get_settings.cache_clear()
    con = duckdb.connect(str(settings.build_db), read_only=True)
    assert con.execute("select count(distinct gemeentecode) from raw.vektis_zvw_gemeente").fetchone()[0] >= 8
    con.close()
