"""The ingestion contract: bad input is quarantined, never lost, never fatal (CBS KWB deliveries, and
small deliveries of a test source checked many files at a time)."""

import dataclasses
import os
import re
import shutil
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from dagster_project import ingest as ingest_lib
from dagster_project.ingest import Rule
from dagster_project.ingest import run as ingest_run
from dagster_project.lib import warehouse
from dagster_project.settings import PROJECT_ROOT, Settings
from dagster_project.sources import cbs_kwb
from tests.conftest import KWB_FIXTURE


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "var")


def deliver(tmp_path: Path, text: str | bytes, name: str = "kwb_2019.csv") -> Path:
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


FIXTURE_TEXT = KWB_FIXTURE.read_text(encoding="utf-8")
FIXTURE_ROWS = FIXTURE_TEXT.count("\n") - 1


def test_clean_file_is_accepted_whole(settings, tmp_path):
    result = ingest(settings, deliver(tmp_path, FIXTURE_TEXT))
    assert result == {
        "file": "kwb_2019.csv",
        "status": "accepted",
        "rows": FIXTURE_ROWS,
        "rejected": 0,
        "period": "2019",
    }
    assert raw_rows(settings) == FIXTURE_ROWS == 159
    assert raw_rows(settings, "wijkenenbuurten = 'GM0518' and _period = '2019' and aantalinwoners = 537833") == 1
    assert list((settings.archive_dir / "cbs_kwb").glob("*.parquet"))


def test_secret_values_become_null(settings, tmp_path):
    ingest(settings, deliver(tmp_path, FIXTURE_TEXT))
    assert raw_rows(settings, "gemiddeldinkomenperinwoner is null") >= 1


def test_bad_rows_are_quarantined_and_the_rest_continues(settings, tmp_path):
    lines = FIXTURE_TEXT.splitlines()
    lines[3] = lines[3].replace("BU05180170", "BU0518017X")  # a wrong code (both code columns)
    fields = lines[5].split(";")
    fields[6] = '"   -2105"'  # a negative population (AantalInwoners_5)
    lines[5] = ";".join(fields)
    lines.append(lines[10])  # a duplicated area
    result = ingest(settings, deliver(tmp_path, "\n".join(lines) + "\n"))
    reasons = reasons_of(settings)
    assert result["status"] == "accepted"
    assert set(reasons["row"]) == {4, 6, 11, len(lines)}
    bad_code = reasons[reasons["row"] == 4].iloc[0]
    assert bad_code["column"] == "WijkenEnBuurten" and bad_code["rule"] == "area_code"
    assert "kwb_2019.csv, row 4" in bad_code["message"]
    assert "AantalInwoners" in set(reasons[reasons["row"] == 6]["column"])
    assert raw_rows(settings) == FIXTURE_ROWS - 3  # the wrong code, the negative, both duplicates
    rejected = next((settings.quarantine_dir / "cbs_kwb").glob("*/rejected_rows.csv")).read_text()
    assert "BU0518017X" in rejected


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
    assert "kwb_2019.csv" in reasons.loc[0, "message"]
    quarantined = next((settings.quarantine_dir / "cbs_kwb").glob("*/kwb_2019.csv"))
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


def test_an_earlier_version_delivered_again_supersedes_the_correction(settings, tmp_path):
    ingest(settings, deliver(tmp_path, FIXTURE_TEXT))
    corrected = "\n".join(FIXTURE_TEXT.splitlines()[:-2]) + "\n"
    ingest(settings, deliver(tmp_path, corrected))
    assert ingest(settings, deliver(tmp_path, FIXTURE_TEXT))["status"] == "accepted"
    assert raw_rows(settings) == FIXTURE_ROWS
    assert ingest(settings, deliver(tmp_path, FIXTURE_TEXT))["status"] == "unchanged"


def test_file_name_must_name_the_year(settings, tmp_path):
    result = ingest(settings, deliver(tmp_path, FIXTURE_TEXT, name="kerncijfers.csv"))
    assert result["status"] == "rejected" and "kwb_<year>.csv" in result["message"]


def test_temporary_files_are_not_picked_up(settings):
    landing = settings.landing_dir / "cbs_kwb"
    landing.mkdir(parents=True)
    for name in ("kwb_2022.csv.part", ".kwb_2023.csv", "kwb_2024.csv.tmp", "kwb_2021.csv"):
        shutil.copy(KWB_FIXTURE, landing / name)
    from dagster_project.ingest import landed_files

    assert [p.name for p in landed_files(settings, "cbs_kwb")] == ["kwb_2021.csv"]


# --- KWB layouts of other years, on the real 2019 rows ---------------------------------------------


def relabelled(year: int, drop: tuple[str, ...] = ()) -> str:
    """The real 2019 file with the header keys of another KWB year and without the topics `drop`."""
    rows = [line.split(";") for line in FIXTURE_TEXT.removeprefix("\ufeff").splitlines()]
    header = [name.strip('"') for name in rows[0]]
    renamed = {cbs_kwb.KWB_KEYS[2019][name]: key for name, key in cbs_kwb.KWB_KEYS[year].items()}
    keep = [i for i, key in enumerate(header) if cbs_kwb.strip_suffix(key) not in drop]
    rows[0] = [f'"{renamed.get(key, key)}"' for key in header]
    return "\ufeff" + "\n".join(";".join(row[i] for i in keep) for row in rows) + "\n"


def test_a_year_is_read_by_its_own_keys_and_a_missing_topic_stays_empty(settings, tmp_path, caplog):
    text = relabelled(2024, drop=("HuishoudensMetEenLaagInkomen",))
    assert '"JongerenMetJeugdzorgInNatura_91"' in text and '"HuishoudensTotaal_29"' in text
    with caplog.at_level("WARNING", logger="mmr.ingest"):
        result = ingest(settings, deliver(tmp_path, text, name="kwb_2024.csv"))
    assert result["status"] == "accepted" and result["rows"] == FIXTURE_ROWS and result["rejected"] == 0
    assert "KWB 2024 has no HuishoudensMetEenLaagInkomen" in caplog.text
    with warehouse.connect(settings, read_only=True) as con:
        row = con.execute(
            "select aantalinwoners, huishoudenstotaal, jongerenmetjeugdzorginnatura, wmoclienten "
            "from raw.cbs_kwb where wijkenenbuurten = 'GM0518'"
        ).fetchone()
    assert row == (537833.0, 263371.0, 15595.0, 38085.0)
    assert raw_rows(settings, "huishoudensmeteenlaaginkomen is not null") == 0


def test_a_year_without_care_topics_is_accepted(settings, tmp_path):
    care = ("JongerenMetJeugdzorgInNatura", "PercentageJongerenMetJeugdzorg", "WmoClienten", "WmoClientenRelatief")
    result = ingest(settings, deliver(tmp_path, relabelled(2017, drop=care), name="kwb_2017.csv"))
    assert result["status"] == "accepted" and result["rows"] == FIXTURE_ROWS
    assert raw_rows(settings, "wmoclienten is null and jongerenmetjeugdzorginnatura is null") == FIXTURE_ROWS
    assert raw_rows(settings, "gemiddeldinkomenperinwoner = 27.1 and wijkenenbuurten = 'GM0518'") == 1


def test_a_topic_under_another_key_is_found_by_its_name_and_named_in_a_warning(settings, tmp_path, caplog):
    text = FIXTURE_TEXT.replace('"WmoClienten_89"', '"WmoClienten_189"')
    with caplog.at_level("WARNING", logger="mmr.ingest"):
        ingest(settings, deliver(tmp_path, text))
    assert "WmoClienten (WmoClienten_189, not WmoClienten_89)" in caplog.text
    assert raw_rows(settings, "wmoclienten = 38085 and wijkenenbuurten = 'GM0518'") == 1


# --- Many files at once: the chunked path of sources with a SQL contract -------------------------

PROEF_COLUMNS = ["code", "jaar", "bedrag", "datum"]
PROEF_CONTRACT = ingest_lib.SqlContract(
    columns=PROEF_COLUMNS,
    rules=[
        ingest_lib.matches("code", r"[A-Z]{2}\d{2}"),
        Rule("jaar", "matches_file_name", "trim(jaar) <> '${year}'"),
        *ingest_lib.dutch_amount("bedrag"),
        ingest_lib.dutch_date("datum"),
    ],
    typed={
        "code": "trim(code)",
        "jaar": "cast(trim(jaar) as integer)",
        "bedrag": "nl_decimal(bedrag)",
        "datum": "nl_date(datum)",
        "perioden": "'${year}JJ00'",
    },
    unique=["code"],
)
PROEF = ingest_lib.SourceSpec(
    source="proef",
    table="proef",
    asset_key=("raw", "proef"),
    file_pattern=re.compile(r"^proef_(?P<year>\d{4})\.csv$"),
    file_hint="proef_<year>.csv",
    period=lambda match: match["year"],
    contract=PROEF_CONTRACT,
)


def proef_file(folder: Path, year: int, rows: list[str], header: str = "code;jaar;bedrag;datum") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"proef_{year}.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def clean_rows(year: int, n: int = 3) -> list[str]:
    return [f"AB{i:02d};{year};{i},50;01-0{i % 9 + 1}-{year}" for i in range(n)]


def ingest_many(settings: Settings, paths: list[Path]) -> list[dict]:
    with warehouse.connect(settings) as con:
        return ingest_lib.ingest_files(PROEF, paths, con, settings)


def proef_rows(settings: Settings, sql: str = "select _source_file, code, _row from raw.proef order by 1, 2"):
    with warehouse.connect(settings, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_files_checked_together_keep_their_own_outcome(settings, tmp_path):
    folder = tmp_path / "in"
    clean = proef_file(folder, 2020, clean_rows(2020))
    bad_rows = proef_file(folder, 2021, [*clean_rows(2021), "XX1;2021;1,00;01-01-2021", "AB07;2020;-3,00;31-02-2021"])
    malformed = proef_file(folder, 2022, [*clean_rows(2022), "AB09;2022;1,00"])
    header_only = proef_file(folder, 2023, [])
    layout = proef_file(folder, 2024, ["2024;AB01;01-01-2024;1,00"], header="jaar;code;datum;bedrag")
    results = ingest_many(settings, [clean, bad_rows, malformed, header_only, layout])
    assert [r["status"] for r in results] == ["accepted", "accepted", "rejected", "rejected", "accepted"]
    assert results[1] == {"file": "proef_2021.csv", "status": "accepted", "rows": 3, "rejected": 2, "period": "2021"}
    assert "proef_2022.csv: malformed or truncated (Expected 4 columns, got 3)" in results[2]["message"]
    assert "proef_2023.csv: the file has a header but no rows" in results[3]["message"]
    reasons = pd.read_csv(next((settings.quarantine_dir / "proef").glob("proef_2021-*/reasons.csv")))
    assert set(zip(reasons["row"], reasons["rule"], strict=True)) == {
        (5, "format"),
        (6, "matches_file_name"),
        (6, "non_negative"),
        (6, "date_dd_mm_yyyy"),
    }
    assert reasons["message"].str.startswith("proef_2021.csv, row ").all()
    assert "value 'XX1' breaks rule format" in reasons.loc[reasons["row"] == 5, "message"].iloc[0]
    stored = proef_rows(settings)
    assert [(f, c) for f, c, _ in stored] == [
        *[("proef_2020.csv", f"AB{i:02d}") for i in range(3)],
        *[("proef_2021.csv", f"AB{i:02d}") for i in range(3)],
        ("proef_2024.csv", "AB01"),
    ]
    assert [r for _, _, r in stored] == [2, 3, 4, 2, 3, 4, 2]
    typed = proef_rows(settings, "select jaar, bedrag, datum, perioden from raw.proef where code = 'AB01' order by 1")
    assert [(j, p) for j, _, _, p in typed] == [(2020, "2020JJ00"), (2021, "2021JJ00"), (2024, "2024JJ00")]
    assert typed[0][1] == 1.5 and str(typed[0][2]) == "2020-02-01 00:00:00"
    archived = pd.concat(pd.read_parquet(p) for p in (settings.archive_dir / "proef").glob("*.parquet"))
    assert sorted(set(archived["_source_file"])) == ["proef_2020.csv", "proef_2021.csv", "proef_2024.csv"]
    assert len(archived) == len(stored) and archived["_batch_id"].str.startswith("proef_20").all()
    with warehouse.connect(settings, read_only=True) as con:
        log = con.execute(
            "select file_name, status, rows_read, rows_rejected from raw.ingestion_log order by 1"
        ).fetchall()
    assert log == [
        ("proef_2020.csv", "accepted", 3, 0),
        ("proef_2021.csv", "partial", 5, 2),
        ("proef_2022.csv", "rejected", 0, 0),
        ("proef_2023.csv", "rejected", 0, 0),
        ("proef_2024.csv", "accepted", 1, 0),
    ]


def test_small_chunks_give_the_same_raw_rows(settings, tmp_path, monkeypatch):
    paths = [proef_file(tmp_path / "in", year, clean_rows(year, 50)) for year in range(2010, 2020)]
    monkeypatch.setattr(ingest_run, "CHUNK_BYTES", 1500)
    results = ingest_many(settings, paths)
    assert [r["rows"] for r in results] == [50] * 10
    assert proef_rows(settings, "select count(*), count(distinct _batch_id) from raw.proef") == [(500, 10)]


def _fails_on_2021(accepted: pd.DataFrame, key: bytes) -> pd.DataFrame:
    if (accepted["jaar"] == 2021).any():
        raise ValueError("a fault no contract rule foresaw")
    return accepted


def assert_2021_rejected_alone(settings: Settings, results: list[dict]) -> None:
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1]["message"].startswith("proef_2021.csv: cannot be processed (ValueError)")
    assert proef_rows(settings, "select _source_file, count(*) from raw.proef group by 1 order by 1") == [
        ("proef_2020.csv", 3),
        ("proef_2022.csv", 3),
    ]


def test_a_file_the_chunk_fails_on_is_rejected_alone_and_the_others_are_written(settings, tmp_path):
    folder = tmp_path / "in"
    paths = [proef_file(folder, 2020, clean_rows(2020)), proef_file(folder, 2021, clean_rows(2021))]
    paths.append(proef_file(folder, 2022, clean_rows(2022)))
    spec = dataclasses.replace(PROEF, to_raw=_fails_on_2021)
    with warehouse.connect(settings) as con:
        results = ingest_lib.ingest_files(spec, paths, con, settings)
    assert_2021_rejected_alone(settings, results)
    assert proef_rows(settings, "select file_name, status from raw.ingestion_log order by 1")[1] == (
        "proef_2021.csv",
        "rejected",
    )


def _columns_failing_on_2021(delivered, key, con) -> dict:
    if "2021" in delivered["jaar"].to_pylist():
        raise ValueError("a fault no contract rule foresaw")
    return {}


def _typed_rows(step) -> str:
    return f"select {', '.join([*step.columns, *step.keep])} from {step.relation}"


def test_a_file_the_reading_thread_fails_on_is_rejected_alone(settings, tmp_path):
    """The rows of the next chunk are made while one is written; a chunk failing there is
    written file by file, as if it had failed in the writing."""
    folder = tmp_path / "in"
    paths = [proef_file(folder, year, clean_rows(year)) for year in (2020, 2021, 2022)]
    spec = dataclasses.replace(PROEF, raw_sql=ingest_lib.RawSql(_columns_failing_on_2021, _typed_rows))
    with warehouse.connect(settings) as con:
        results = ingest_lib.ingest_files(spec, paths, con, settings)
    assert_2021_rejected_alone(settings, results)


def test_strip_is_trim_without_copying(settings):
    values = ["", " ", "  ", "a", " a", "a ", "  a b  ", "\ta\t", " \ta ", "é ", None]
    with warehouse.connect(settings) as con:
        ingest_lib.contract.prepare(con)
        con.execute("create temp table v as select unnest(?::varchar[]) as s", [values])
        assert con.execute("select count(*) from v where strip(s) is distinct from trim(s)").fetchone()[0] == 0


def test_a_settled_file_is_known_by_name_size_and_time(settings, tmp_path):
    path = proef_file(tmp_path / "in", 2020, clean_rows(2020))
    hour_ago = time.time_ns() - 3600 * 10**9
    os.utime(path, ns=(hour_ago, hour_ago))
    assert ingest_many(settings, [path])[0]["status"] == "accepted"
    path.write_text(path.read_text().replace("AB00", "AB99"))
    os.utime(path, ns=(hour_ago, hour_ago))
    assert ingest_many(settings, [path])[0]["status"] == "unchanged"  # not even read
    path.touch()
    assert ingest_many(settings, [path])[0]["status"] == "accepted"  # a new time: read, hashed, superseded
    assert [c for _, c, _ in proef_rows(settings)] == ["AB01", "AB02", "AB99"]


def test_a_source_that_never_delivered_has_an_empty_typed_raw_table(settings):
    from dagster_project.sources import gemeente_jeugd, vektis_zvw

    stats = ingest_lib.ingest_source([PROEF], settings)
    assert stats[PROEF.asset_key]["files"] == 0 and stats[PROEF.asset_key]["raw_rows"] == 0
    ingest_lib.ingest_source(vektis_zvw.SPECS, settings)
    ingest_lib.ingest_source([gemeente_jeugd.SPEC], settings)
    ingest_lib.ingest_source([cbs_kwb.SPEC], settings)
    with warehouse.connect(settings, read_only=True) as con:

        def columns(table: str) -> dict[str, str]:
            return dict(con.execute(f"select column_name, column_type from (describe raw.{table})").fetchall())

        assert columns("proef") == {
            "code": "VARCHAR",
            "jaar": "INTEGER",
            "bedrag": "DOUBLE",
            "datum": "TIMESTAMP",
            "perioden": "VARCHAR",
            "_period": "VARCHAR",
            "_batch_id": "VARCHAR",
            "_source_file": "VARCHAR",
            "_row": "BIGINT",
        }
        jeugd = columns("gemeente_jeugd")
        assert {"bsn_pseudoniem": "BIGINT", "geboortejaar": "BIGINT", "buurt_code": "VARCHAR"}.items() <= jeugd.items()
        assert not {"bsn", "postcode", "huisnummer", "geboortedatum"} & set(jeugd)
        vektis = columns("vektis_zvw_gemeente")
        assert vektis["gemeentecode"] == vektis["_period"] == "VARCHAR"
        assert {"aantalinwoners": "DOUBLE", "wijkenenbuurten": "VARCHAR"}.items() <= columns("cbs_kwb").items()
    ingest(settings, deliver(settings.home, FIXTURE_TEXT))  # the first delivery adds the columns it brings
    assert raw_rows(settings) == FIXTURE_ROWS


def test_persons_in_bulk_get_the_pseudonyms_of_pseudonymise_person(tmp_path):
    from dagster_project.ingest.pseudonymise import pseudonymise_person
    from dagster_project.sources import gemeente_wmo

    settings = Settings(home=tmp_path / "var", pseudonym_key="bulk-key")
    line = (
        "GM0489;2022-01;W{n};{bsn};22-02-19{n}7;V;{postcode};{huisnummer};07;07A02;ZIN;75007003;Zorg;"
        "06-11-2019;;;uur;9,90;55,24;546,88"
    )
    persons = [("111222333", "2976 aa", "065"), (" 123456782", "2976AA", "65"), ("111222333", "2976ab", "7 a")]
    rows = [line.format(n=n, bsn=b, postcode=p, huisnummer=h) for n, (b, p, h) in enumerate(persons)]
    path = tmp_path / "in" / "wmo_GM0489_2022-01.csv"
    path.parent.mkdir()
    path.write_text(";".join(gemeente_wmo.COLUMNS) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with warehouse.connect(settings) as con:
        assert ingest_lib.ingest_file(gemeente_wmo.SPEC, path, con, settings)["rows"] == 3
        stored = con.execute(
            "select bsn_pseudoniem, huishouden_pseudoniem, postcode4, geboortejaar from raw.gemeente_wmo order by _row"
        ).fetchall()
    delivered = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    expected = pseudonymise_person(delivered, b"bulk-key")
    columns = ["bsn_pseudoniem", "huishouden_pseudoniem", "postcode4", "geboortejaar"]
    assert stored == [tuple(row) for row in expected[columns].astype(object).itertuples(index=False)]
    assert stored[0][1] == stored[1][1] != stored[2][1]  # the same address, written two ways


def test_extra_columns_are_ignored_with_a_warning(settings, tmp_path, caplog):
    path = proef_file(
        tmp_path / "in", 2020, [f"{row};x" for row in clean_rows(2020)], header="code;jaar;bedrag;datum;opmerking"
    )
    with caplog.at_level("WARNING", logger="mmr.ingest"):
        assert ingest_many(settings, [path])[0]["rows"] == 3
    assert "proef_2020.csv: columns opmerking are not in the contract" in caplog.text
    with warehouse.connect(settings, read_only=True) as con:
        assert "opmerking" not in {c for (c,) in con.execute("select column_name from (describe raw.proef)").fetchall()}


def test_the_build_database_keeps_to_the_memory_limit_of_the_settings(tmp_path, monkeypatch):
    """Ingestion and the analytics open the build database bounded like dbt (MMR_DUCKDB_MEMORY_LIMIT),
    so a national aggregate spills to disk instead of taking the machine's memory."""
    for limit, shown in (("1GB", "953.6 MiB"), ("2GB", "1.8 GiB")):
        with warehouse.connect(Settings(home=tmp_path, duckdb_memory_limit=limit), read_only=False) as con:
            assert con.execute("select current_setting('memory_limit')").fetchone()[0] == shown
    monkeypatch.delenv("MMR_DUCKDB_MEMORY_LIMIT", raising=False)
    default = Settings(home=tmp_path).duckdb_memory_limit
    assert default == "2.5GB"
    profile = (PROJECT_ROOT / "dbt" / "profiles.yml").read_text()
    assert f"env_var('MMR_DUCKDB_MEMORY_LIMIT', '{default}')" in profile, "dbt's default is the settings' default"


def test_dbt_and_the_build_database_share_compression_and_allocator_settings(tmp_path):
    """What dbt's profile sets DuckDB to is what ingestion and the analytics connect with."""
    profile = yaml.safe_load((PROJECT_ROOT / "dbt" / "profiles.yml").read_text())
    in_dbt = profile["mmr"]["outputs"]["duckdb"]["settings"]
    expected = {**warehouse.ALLOCATOR_FLUSH, "disabled_compression_methods": warehouse.DISABLED_COMPRESSION}
    assert {name: in_dbt.get(name) for name in expected} == expected
    shown = "select lower(current_setting(?))"
    with warehouse.connect(Settings(home=tmp_path)) as con, duckdb.connect() as default:
        for name in warehouse.ALLOCATOR_FLUSH:
            assert con.execute(shown, [name]).fetchone() != default.execute(shown, [name]).fetchone(), name
        compression = con.execute(shown, ["disabled_compression_methods"]).fetchone()[0]
        assert compression == warehouse.DISABLED_COMPRESSION


def test_a_new_warehouse_is_made_in_the_faster_storage_format_and_an_old_one_keeps_its_own(tmp_path):
    """dbt's profile makes a warehouse in the same format; one made before stays readable and writable."""
    profile = yaml.safe_load((PROJECT_ROOT / "dbt" / "profiles.yml").read_text())
    options = profile["mmr"]["outputs"]["duckdb"]["config_options"]
    assert options == {"storage_compatibility_version": warehouse.STORAGE_VERSION}
    codes = "create or replace table codes as select 'GM' || (i % 345) as code from range(300000) t(i)"
    made_before = Settings(home=tmp_path / "before")
    made_before.warehouse_dir.mkdir(parents=True)
    with duckdb.connect(str(made_before.build_db)) as con:
        con.execute(codes)
    layout = "select distinct compression from pragma_storage_info('codes') where segment_type = 'VARCHAR'"
    for settings, compression in [(Settings(home=tmp_path / "new"), "DICT_FSST"), (made_before, "Dictionary")]:
        with warehouse.connect(settings) as con:
            con.execute(codes)
            con.execute("checkpoint")
            assert con.execute(layout).fetchall() == [(compression,)]
            assert con.execute("select count(distinct code) from codes").fetchone() == (345,)


@pytest.mark.parametrize("columns_per_aggregate", [60, 1])
def test_rules_checked_per_distinct_value_find_what_checking_every_row_finds(
    tmp_path, monkeypatch, columns_per_aggregate
):
    from dagster_project.ingest import checks

    monkeypatch.setattr(checks, "GROUPING_COLUMNS", columns_per_aggregate)
    faults = ["ab12;2020;1,50;01-01-2020", "AB01;2019;x;31-02-2020", "AB02;2020;-1,00;"] * 3
    path = proef_file(tmp_path, 2020, clean_rows(2020, 40) + faults)
    chunk = checks.chunk_table(
        [ingest_lib.read_delimited_arrow(path, PROEF_COLUMNS)], [{"year": "2020"}], PROEF_CONTRACT
    )
    con = duckdb.connect()
    ingest_lib.contract.prepare(con)
    con.register("_chunk", chunk)
    grouped = checks.failures(con, "_chunk", PROEF_CONTRACT, chunk)
    assert grouped.num_rows >= 12
    assert grouped.equals(checks.failures(con, "_chunk", PROEF_CONTRACT))
