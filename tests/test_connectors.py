"""The CBS and Vektis connectors against recorded responses served over real HTTP on localhost.

The recorded OData pages (`tests/fixtures/cbs_odata/`) and Vektis files (`tests/fixtures/vektis/`)
are served by `http.server`; the connectors reach it through `MMR_CBS_ODATA_URL` and
`MMR_VEKTIS_URL` exactly as they reach the publishers. Each fetched file must then pass the
source's own ingestion.
"""

import http.server
import threading
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import dagster as dg
import pandas as pd
import pytest

from dagster_project import ingest
from dagster_project.lib import warehouse
from dagster_project.lib.connectors import FetchError
from dagster_project.settings import Settings, get_settings
from dagster_project.sources import cbs_kwb, cbs_odata, vektis_open_data, vektis_zvw
from tests.conftest import FIXTURES, KWB_FIXTURE, mmr

RECORDED_HOST = b"https://opendata.cbs.nl"
VEKTIS_2023 = FIXTURES / "vektis" / "2023"


class Recorded(http.server.BaseHTTPRequestHandler):
    """Answers a request with the recorded response of the same path (404 when none was recorded)."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path).strip("/")
        self.server.seen.append(self.path)
        if path.startswith(("ODataFeed/", "ODataCatalog/")):
            skip = parse_qs(url.query).get("$skip")
            name = path + (f".skip={skip[0]}" if skip else "")
            file, kind = FIXTURES / "cbs_odata" / f"{name}.json", "application/json;charset=utf-8"
        else:
            name, file, kind = path, FIXTURES / "vektis" / path, "text/csv"
        status = self.server.fail.get(name, 200 if file.is_file() else 404)
        body = file.read_bytes().replace(RECORDED_HOST, self.server.base.encode()) if status == 200 else b"error"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorded)
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.fail, httpd.seen = {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def settings(tmp_path: Path, server) -> Settings:
    server.fail.clear()
    server.seen.clear()
    return Settings(
        home=tmp_path / "var",
        cbs_odata_url=server.base,
        vektis_url=server.base,
        pseudonym_key="test-key",
        fetch_timeout_seconds=10,
    )


def ingest_all(settings: Settings, specs: list[ingest.SourceSpec]) -> dict:
    return ingest.ingest_source(specs, settings)


def query(settings: Settings, sql: str) -> list[tuple]:
    with warehouse.connect(settings, read_only=True) as con:
        return con.execute(sql).fetchall()


def landing(settings: Settings, source: str) -> list[str]:
    folder = settings.landing_dir / source
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- CBS OData -----------------------------------------------------------------------------------


def test_cbs_fetch_follows_every_page_and_lands_what_a_statline_download_holds(settings, server):
    landed = cbs_odata.fetch_kwb(2019, settings)
    assert landed.path == settings.landing_dir / "cbs_kwb" / "kwb_2019.csv"
    assert (landed.rows, landed.status) == (159, "landed")
    pages = [p for p in server.seen if "TypedDataSet" in p]
    assert len(pages) == 3 and "$skip=60" in pages[1] and "$skip=120" in pages[2]
    fetched = cbs_kwb.parse(landed.path)
    manual = cbs_kwb.parse(KWB_FIXTURE)
    pd.testing.assert_frame_equal(fetched, manual)
    content = landed.path.read_bytes()
    assert content.startswith(b"\xef\xbb\xbf") and b"NL00" not in content
    header = content.decode("utf-8-sig").splitlines()[0]
    assert '"AantalInwoners_5"' in header and '"JongerenMetJeugdzorgInNatura_87"' in header
    assert "Ongehuwd" not in header
    # as the download: every field quoted, numbers padded left, `.` where CBS has no value
    assert '"GM0518    ";"\'s-Gravenhage' in content.decode("utf-8-sig")
    assert '"  537833"' in content.decode("utf-8-sig") and '"       ."' in content.decode("utf-8-sig")


def test_fetched_cbs_file_is_ingested_with_its_values(settings):
    cbs_odata.fetch_kwb(2019, settings)
    stats = ingest_all(settings, [cbs_kwb.SPEC])[cbs_kwb.SPEC.asset_key]
    assert stats["rejected_files"] == 0 and stats["quarantined_rows"] == 0
    assert dict(query(settings, "select _period, count(*) from raw.cbs_kwb group by 1")) == {"2019": 159}
    assert query(
        settings,
        "select aantalinwoners, gemiddeldehuishoudensgrootte, gemiddeldinkomenperinwoner, "
        "jongerenmetjeugdzorginnatura, percentagejongerenmetjeugdzorg, wmoclienten "
        "from raw.cbs_kwb where wijkenenbuurten = 'GM0518'",
    ) == [(537833.0, 2.0, 27.1, 15595.0, 10.8, 38085.0)]
    ((secret,),) = query(settings, "select count(*) from raw.cbs_kwb where gemiddeldinkomenperinwoner is null")
    assert secret >= 1


def test_refetching_an_unchanged_table_is_a_no_op(settings):
    first = cbs_odata.fetch_kwb(2019, settings)
    mtime = first.path.stat().st_mtime_ns
    again = cbs_odata.fetch_kwb(2019, settings)
    assert again.status == "unchanged" and again.path.stat().st_mtime_ns == mtime


def test_new_periods_come_from_the_catalog(settings):
    assert cbs_odata.new_periods(settings) == {2022: "85318NED", 2023: "85618NED", 2024: "85984NED"}
    earlier = settings.model_copy(update={"cbs_kwb_from_year": 2019})
    assert cbs_odata.new_periods(earlier) == {
        2019: "84583NED",
        2022: "85318NED",
        2023: "85618NED",
        2024: "85984NED",
    }
    cbs_odata.fetch_kwb(2019, settings)
    assert cbs_odata.new_periods(earlier) == {2022: "85318NED", 2023: "85618NED", 2024: "85984NED"}
    later = settings.model_copy(update={"cbs_kwb_from_year": 2024})
    assert cbs_odata.new_periods(later) == {2024: "85984NED"}


def test_a_table_that_is_not_recorded_gives_a_clear_error_and_lands_nothing(settings):
    with pytest.raises(FetchError) as error:
        cbs_odata.fetch_kwb(2024, settings)
    message = str(error.value)
    assert "HTTP 404" in message and "85984NED" in message and "nothing was landed" in message
    assert landing(settings, "cbs_kwb") == []


def test_a_failing_last_page_lands_nothing_and_keeps_the_earlier_file(settings, server):
    earlier = cbs_odata.fetch_kwb(2019, settings).path.read_bytes()
    server.fail["ODataFeed/odata/84583NED/TypedDataSet.skip=120"] = 500
    (settings.landing_dir / "cbs_kwb" / "kwb_2019.csv").unlink()
    with pytest.raises(FetchError, match="HTTP 500"):
        cbs_odata.fetch_kwb(2019, settings)
    assert landing(settings, "cbs_kwb") == []
    server.fail.clear()
    cbs_odata.fetch_kwb(2019, settings)
    server.fail["ODataFeed/odata/84583NED/TypedDataSet.skip=60"] = 503
    with pytest.raises(FetchError, match="HTTP 503"):
        cbs_odata.fetch_kwb(2019, settings)
    assert landing(settings, "cbs_kwb") == ["kwb_2019.csv"]
    assert (settings.landing_dir / "cbs_kwb" / "kwb_2019.csv").read_bytes() == earlier


def test_a_table_id_of_another_year_is_refused(settings):
    with pytest.raises(FetchError, match="84583NED is 'Kerncijfers wijken en buurten 2019', not .* 2023"):
        cbs_odata.fetch_kwb(2023, settings, table="84583NED")
    assert landing(settings, "cbs_kwb") == []


def test_an_unreachable_server_gives_a_clear_error(tmp_path):
    settings = Settings(home=tmp_path / "var", cbs_odata_url="http://127.0.0.1:9", fetch_timeout_seconds=2)
    with pytest.raises(FetchError, match="cannot reach http://127.0.0.1:9"):
        cbs_odata.fetch_kwb(2019, settings)


# --- Vektis --------------------------------------------------------------------------------------


def published(level: str) -> pd.DataFrame:
    """The recorded file as Vektis publishes it (the gemeente file is Windows-1252)."""
    return pd.read_csv(
        VEKTIS_2023 / f"Vektis Open Databestand Zorgverzekeringswet 2023 - {level}.csv",
        sep=";",
        dtype=str,
        keep_default_na=False,
        encoding="utf-8" if level == "postcode3" else "cp1252",
    )


def test_vektis_fetch_lands_both_levels_and_ingestion_accepts_them(settings, server):
    landed = vektis_open_data.fetch_year(2023, settings)
    assert [(item.path.name, item.rows) for item in landed] == [
        ("vektis_zvw_gemeente_2023.csv", 114),
        ("vektis_zvw_postcode3_2023.csv", 114),
    ]
    assert any("Zorgverzekeringswet%202023%20-%20gemeente.csv" in p for p in server.seen)
    text = landed[0].path.read_text(encoding="utf-8")
    assert text.startswith("JAAR;GESLACHT;LEEFTIJDSKLASSE;GEMEENTENAAM;") and "SÚDWEST-FRYSLÂN" in text
    stats = ingest_all(settings, vektis_zvw.SPECS)
    assert all(s["rejected_files"] == 0 and s["quarantined_rows"] == 0 for s in stats.values()), stats
    source = published("gemeente")
    expected = source[(source["gemeentenaam"] == "VOORNE AAN ZEE") & (source["geslacht"] == "V")]
    ages = [str(a) for a in range(0, 90, 5)] + ["90+"]
    expected = dict(zip(ages, expected["kosten_consulten_ggz"].astype(float), strict=True))
    rows = query(
        settings,
        "select leeftijdsklasse, kosten_consulten_ggz, gemeentecode, jaar from raw.vektis_zvw_gemeente "
        "where gemeentenaam = 'VOORNE AAN ZEE' and geslacht = 'V'",
    )
    assert {age: cost for age, cost, *_ in rows} == expected
    assert {(code, year) for *_, code, year in rows} == {("GM1992", 2023)}
    assert query(
        settings, "select distinct gemeentecode from raw.vektis_zvw_gemeente where gemeentenaam like 'S%'"
    ) == [("GM1900",)]
    assert query(
        settings,
        "select count(*) filter (where kosten_medisch_specialistische_zorg > 0), "
        "count(*) filter (where kosten_specialistische_ggz is null) from raw.vektis_zvw_gemeente",
    ) == [(114, 114)]
    assert query(settings, "select count(distinct postcode_3) from raw.vektis_zvw_postcode3") == [(3,)]


def test_vektis_layout_variants_are_mapped_onto_the_contract(settings):
    source = published("postcode3").drop(columns=["kosten_huisarts_mdz"])
    source["leeftijdsklasse"] = source["leeftijdsklasse"].str.extract(r"^(\d+) t/m", expand=False).fillna("90+")
    source.columns = [c.upper() for c in source.columns]
    variant = source.copy()
    variant.columns = [c.lower() for c in variant.columns]
    ages = {str(a): f"{a} t/m {a + 4} jaar" for a in range(0, 90, 5)} | {"90+": "90 jaar en ouder"}
    variant["leeftijdsklasse"] = variant["leeftijdsklasse"].map(ages)
    variant["kosten_farmacie"] = variant["kosten_farmacie"].str.replace(".", ",", regex=False)
    raw = variant.to_csv(sep=",", index=False, quoting=1).encode("utf-8")
    content, rows = vektis_open_data.to_delivered(raw, 2023, "postcode3", "variant.csv")
    assert rows == len(source)
    target = settings.landing_dir / "vektis_zvw" / "vektis_zvw_postcode3_2023.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(content)
    stats = ingest_all(settings, vektis_zvw.SPECS)[vektis_zvw.POSTCODE3_SPEC.asset_key]
    assert stats["rows_ingested"] == len(source) and stats["quarantined_rows"] == 0
    got = query(
        settings,
        "select postcode_3, geslacht, leeftijdsklasse, kosten_farmacie, kosten_huisarts_mdz "
        "from raw.vektis_zvw_postcode3",
    )
    want = {(r.POSTCODE_3, r.GESLACHT, r.LEEFTIJDSKLASSE): float(r.KOSTEN_FARMACIE) for r in source.itertuples()}
    assert {(p, g, a): cost for p, g, a, cost, _ in got} == want
    assert {mdz for *_, mdz in got} == {None}


@pytest.mark.parametrize(
    ("fail", "expected"),
    [
        ({"2023/Vektis Open Databestand Zorgverzekeringswet 2023 - postcode3.csv": 404}, "HTTP 404"),
        ({"2023/Vektis Open Databestand Zorgverzekeringswet 2023 - gemeente.csv": 500}, "HTTP 500"),
    ],
    ids=["postcode3-missing", "server-error"],
)
def test_vektis_http_errors_land_neither_level(settings, server, fail, expected):
    server.fail.update(fail)
    with pytest.raises(FetchError) as error:
        vektis_open_data.fetch_year(2023, settings)
    assert expected in str(error.value) and "Vektis" in str(error.value) and "nothing was landed" in str(error.value)
    assert landing(settings, "vektis_zvw") == []


def test_a_web_page_instead_of_a_csv_is_refused():
    with pytest.raises(FetchError, match="returned a web page"):
        vektis_open_data.to_delivered(b"<!DOCTYPE html><html>Niet gevonden</html>", 2022, "gemeente", "https://x")


def test_vektis_new_periods_skip_years_not_published_yet(settings, server):
    settings = settings.model_copy(update={"vektis_from_year": 2022})
    assert vektis_open_data.new_periods(settings) == list(range(2022, date.today().year))
    landed = vektis_open_data.fetch(None, settings)
    assert {item.path.name for item in landed} == {"vektis_zvw_gemeente_2023.csv", "vektis_zvw_postcode3_2023.csv"}
    assert any("2022/" in p for p in server.seen) and any("2024/" in p for p in server.seen)
    assert vektis_open_data.new_periods(settings) == list(range(2024, date.today().year))


# --- Dagster job, schedule, sensor and the CLI ---------------------------------------------------


@pytest.fixture
def defs(tmp_path, monkeypatch, server):
    monkeypatch.setenv("MMR_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("MMR_CBS_ODATA_URL", server.base)
    monkeypatch.setenv("MMR_VEKTIS_URL", server.base)
    get_settings.cache_clear()
    from dagster_project.definitions import defs

    yield defs
    get_settings.cache_clear()


def test_fetch_job_lands_and_the_landing_sensor_takes_over(defs, tmp_path):
    result = defs.resolve_job_def("cbs_fetch_job").execute_in_process(
        run_config={"ops": {"fetch_cbs_kwb": {"config": {"years": [2019]}}}}
    )
    assert result.success
    [landed] = result.output_for_node("fetch_cbs_kwb")
    assert landed["file"] == "kwb_2019.csv" and landed["rows"] == 159
    sensor = defs.resolve_sensor_def("landing_sensor")
    cursor = None
    for _ in range(2):
        context = dg.build_sensor_context(cursor=cursor)
        tick = sensor.evaluate_tick(context)
        cursor = context.cursor
    [request] = tick.run_requests
    assert request.tags["mmr/sources"] == "cbs_kwb"


def test_fetch_job_without_years_fetches_new_periods_and_fails_clearly(defs, tmp_path, monkeypatch):
    monkeypatch.setenv("MMR_CBS_KWB_FROM_YEAR", "2019")
    get_settings.cache_clear()
    result = defs.resolve_job_def("cbs_fetch_job").execute_in_process(raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "85318NED" in failure.event_specific_data.error.message
    # each period lands on its own: the ones fetched before the failure stay for the sensor
    assert sorted(p.name for p in (tmp_path / "var" / "landing" / "cbs_kwb").iterdir()) == ["kwb_2019.csv"]


def test_vektis_fetch_job(defs, tmp_path):
    result = defs.resolve_job_def("vektis_fetch_job").execute_in_process(
        run_config={"ops": {"fetch_vektis_zvw": {"config": {"years": [2023]}}}}
    )
    assert result.success
    assert {item["file"] for item in result.output_for_node("fetch_vektis_zvw")} == {
        "vektis_zvw_gemeente_2023.csv",
        "vektis_zvw_postcode3_2023.csv",
    }


@pytest.mark.parametrize(
    ("name", "job"), [("cbs_fetch_schedule", "cbs_fetch_job"), ("vektis_fetch_schedule", "vektis_fetch_job")]
)
def test_yearly_fetch_schedules_request_their_job(defs, name, job):
    schedule = defs.resolve_schedule_def(name)
    assert schedule.job_name == job and schedule.cron_schedule == "0 4 1 7 *"
    assert len(schedule.evaluate_tick(dg.build_schedule_context()).run_requests) == 1


def test_cli_fetch(tmp_path, server, monkeypatch):
    monkeypatch.setenv("MMR_CBS_ODATA_URL", server.base)
    monkeypatch.setenv("MMR_VEKTIS_URL", server.base)
    home = tmp_path / "var"
    out = mmr(home, "fetch", "cbs", "--year", "2019").stdout
    assert "kwb_2019.csv" in out and "landed" in out
    assert (home / "landing" / "cbs_kwb" / "kwb_2019.csv").exists()
    failed = mmr(home, "fetch", "vektis", "--year", "2024", check=False)
    assert failed.returncode == 1 and "HTTP 404" in failed.stdout
    assert not (home / "landing" / "vektis_zvw").exists() or not any((home / "landing" / "vektis_zvw").iterdir())
