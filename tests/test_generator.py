"""The synthetic generator: determinism, delivered formats, BSN validity and planted effects (demo scale)."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dagster_project.synthetic import SOURCES, delivery_groups, generate
from dagster_project.synthetic.common import SEEDS, elfproef
from dagster_project.synthetic.geography import load_gemeenten, national_plan

SEED = 7


def _run(base: Path, seed: int = SEED) -> tuple[Path, Path, dict]:
    out, truth = base / "landing", base / "generator" / "truth.json"
    summary = generate("demo", seed, out, truth, progress=False)
    return out, truth, summary


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Path, dict]:
    return _run(tmp_path_factory.mktemp("demo"))


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _read(path: Path, sep: str = ";") -> pd.DataFrame:
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)


def _kwb(path: Path) -> pd.DataFrame:
    """A generated KWB file as text with the padding CBS writes removed."""
    return _read(path).apply(lambda column: column.str.strip())


def _municipal(out: Path, domain: str) -> pd.DataFrame:
    files = sorted((out / f"gemeente_{domain}").glob("*.csv"))
    return pd.concat([_read(p) for p in files], ignore_index=True)


def test_summary_and_folders(demo):
    out, truth, summary = demo
    assert set(summary) == set(SOURCES)
    for source in SOURCES:
        assert (out / source).is_dir(), source
        assert summary[source] > 0, source
    assert sorted(p.name for p in (out / "cbs_kwb").iterdir()) == ["kwb_2022.csv", "kwb_2023.csv", "kwb_2024.csv"]


def test_same_seed_is_byte_identical_and_other_seed_differs(demo, tmp_path):
    out, _truth, _ = demo
    again, _, _ = _run(tmp_path / "again")
    assert _hashes(out) == _hashes(again)
    other, _, _ = _run(tmp_path / "other", seed=SEED + 1)
    first, second = _hashes(out), _hashes(other)
    common = set(first) & set(second)
    assert sum(first[k] != second[k] for k in common) > 0.9 * len(common)


def test_kwb_layout(demo):
    """Each year as the TypedDataSet CSV CBS offers, under that year's keys (see the real 2019 file)."""
    out, _, _ = demo
    path = out / "cbs_kwb" / "kwb_2023.csv"
    content = path.read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    text = content.decode("utf-8-sig")
    header = text.splitlines()[0]
    assert header.startswith(
        '"ID";"WijkenEnBuurten";"Gemeentenaam_1";"SoortRegio_2";"Codering_3";"IndelingswijzigingWijkenEnBuurten_4";'
        '"AantalInwoners_5";"Mannen_6"'
    )
    # KWB 2023 (85618NED) numbers its topics differently from 2019
    assert '"HuishoudensTotaal_29"' in header and '"JongerenMetJeugdzorgInNatura_96"' in header
    assert '"GemiddeldInkomenPerInwoner_81"' in header and '"HuishoudensMetEenLaagInkomen_87"' in header
    rows = list(csv.reader(text.splitlines(), delimiter=";"))
    frame = pd.DataFrame(rows[1:], columns=rows[0])
    assert frame["WijkenEnBuurten"].str.len().eq(10).all()
    assert frame["Gemeentenaam_1"].str.len().eq(40).all()
    codes = frame["WijkenEnBuurten"].str.strip()
    assert codes.str.match(r"^(GM\d{4}|WK\d{6}|BU\d{8})$").all()
    assert (frame["Codering_3"] == frame["WijkenEnBuurten"]).all()
    assert set(frame["SoortRegio_2"]) == {"Gemeente  ", "Wijk      ", "Buurt     "}
    gemeente = frame["SoortRegio_2"].str.strip() == "Gemeente"
    assert (frame.loc[gemeente, "IndelingswijzigingWijkenEnBuurten_4"] == ".").all()
    assert (frame.loc[~gemeente, "IndelingswijzigingWijkenEnBuurten_4"] == "1").all()
    assert frame["AantalInwoners_5"].str.len().eq(8).all()
    assert "       ." in set(frame["GemiddeldInkomenPerInwoner_81"]), "small buurten are suppressed"
    buurt = frame[frame["SoortRegio_2"].str.strip() == "Buurt"]
    assert buurt["MeestVoorkomendePostcode_113"].str.strip().str.match(r"^\d{4}$").all()
    assert set(buurt["Dekkingspercentage_114"].str.strip()) <= {"1", "2", "3", "4", "5", "6"}
    income = pd.to_numeric(frame["GemiddeldInkomenPerInwoner_81"].str.strip().replace(".", None))
    assert income.dropna().between(10, 80).all()
    # raw text: every field quoted, numbers padded left, suppressed numbers a padded dot
    line = text.splitlines()[1]
    assert re.match(r'^"0";"GM\d{4}    ";"', line)
    assert ';"       .";' in text
    # youth care: a count (rounded to fives) and the percentage of youth, as CBS publishes both
    care = pd.to_numeric(frame["JongerenMetJeugdzorgInNatura_96"].str.strip().replace(".", None)).dropna()
    assert (care % 5 == 0).all() and care.max() > 100
    share = pd.to_numeric(frame["PercentageJongerenMetJeugdzorg_97"].str.strip().replace(".", None)).dropna()
    assert share.between(0, 100).all()


def test_kwb_years_follow_their_tables(demo):
    """2022 is written in the layout of 2019/2020; 2024 has no share of low-income households."""
    out, _, _ = demo
    header = {
        year: (out / "cbs_kwb" / f"kwb_{year}.csv").read_text(encoding="utf-8-sig").splitlines()[0]
        for year in (2022, 2024)
    }
    assert '"HuishoudensMetEenLaagInkomen_78"' in header[2022] and '"HuishoudensTotaal_28"' in header[2022]
    assert "HuishoudensMetEenLaagInkomen" not in header[2024]
    assert '"JongerenMetJeugdzorgInNatura_91"' in header[2024] and '"Bevolkingsdichtheid_34"' in header[2024]
    assert "Eenouderhuishoudens" not in header[2022] + header[2024]


@pytest.mark.parametrize(
    ("domain", "id_column", "money"),
    [
        ("jeugd", "trajectnummer", ["volume", "tarief", "bedrag"]),
        ("wmo", "voorzieningnummer", ["volume", "tarief", "bedrag"]),
        ("participatie", "uitkeringsnummer", ["bedrag_uitkering"]),
    ],
)
def test_municipal_contract(demo, domain, id_column, money):
    out, _, _ = demo
    files = sorted((out / f"gemeente_{domain}").glob("*.csv"))
    assert files
    pattern = re.compile(rf"^{domain}_GM\d{{4}}_\d{{4}}-\d{{2}}\.csv$")
    assert all(pattern.match(p.name) for p in files)
    frame = _municipal(out, domain)
    assert frame["gemeentecode"].str.match(r"^GM\d{4}$").all()
    for column in money:
        assert frame[column].str.match(r"^\d+,\d{2}$").all(), column
    for column in ("geboortedatum", "startdatum"):
        pd.to_datetime(frame[column], format="%d-%m-%Y")
    ended = frame["einddatum"] != ""
    assert ended.any()
    pd.to_datetime(frame.loc[ended, "einddatum"], format="%d-%m-%Y")
    assert frame["postcode"].str.match(r"^\d{4}[A-Z]{2}$").all()
    assert frame["huisnummer"].str.match(r"^\d+$").all()
    assert not frame.duplicated(["periode", id_column]).any()
    if domain == "jeugd":
        assert frame["agb_code"].str.match(r"^\d{8}$").all()
        assert set(frame.loc[ended, "reden_beeindiging"]) >= {"doel bereikt", "voortijdig afgebroken", "verhuisd"}
        assert set(frame.loc[ended, "doel_bereikt"]) == {"ja", "nee"}
        ijw = set(pd.read_csv("/work/shared/data/real/codelists/ijw_productcategorie_PARTIAL.csv", dtype=str)["code"])
        assert set(frame["productcategorie"]) <= ijw
    if domain == "wmo":
        zin = frame["leveringsvorm"] == "ZIN"
        assert frame.loc[zin, "agb_code"].str.match(r"^\d{8}$").all()
        iwmo = set(pd.read_csv("/work/shared/data/real/codelists/iwmo_WMO022_productcategorie.csv", dtype=str)["code"])
        assert set(frame["productcategorie"]) <= iwmo


def test_every_bsn_passes_the_elfproef(demo):
    out, _, _ = demo
    for domain in ("jeugd", "wmo", "participatie"):
        bsns = _municipal(out, domain)["bsn"].unique()
        assert all(elfproef(b) for b in bsns), domain
    # one person, one birth date
    jeugd = _municipal(out, "jeugd")
    assert jeugd.groupby("bsn")["geboortedatum"].nunique().max() == 1


def test_addresses_place_households_in_buurten(demo):
    out, _, _ = demo
    kwb = _kwb(out / "cbs_kwb" / "kwb_2023.csv")
    postcodes = set(kwb["MeestVoorkomendePostcode_113"]) - {"."}
    pc6 = _read(out / "gebieden" / "pc6_gwb_2023.csv")
    assert list(pc6.columns) == ["PC6", "Buurt2023", "Wijk2023", "Gemeente2023"]
    assert pc6["PC6"].is_unique
    assert set(pc6["Buurt2023"]) <= set(kwb["WijkenEnBuurten"].str.strip())
    gemeente_of = dict(zip(pc6["PC6"], pc6["Gemeente2023"], strict=True))
    for domain in ("jeugd", "wmo", "participatie"):
        rows = _municipal(out, domain)
        rows = rows[rows["periode"].str.startswith("2023")]
        assert set(rows["postcode"].str[:4]) <= postcodes
        assert (rows["postcode"].map(gemeente_of) == rows["gemeentecode"]).all(), domain


def test_other_sources_contracts(demo):
    out, _, _ = demo
    survey = pd.concat([_read(p) for p in (out / "clientervaring").glob("*.csv")])
    assert set(survey["antwoord"].astype(int)) <= {1, 2, 3, 4, 5}
    assert set(survey["domein"]) == {"jeugd", "wmo"}
    assert survey["agb_code"].str.match(r"^\d{8}$").all()
    vektis = _read(out / "vektis_zvw" / "vektis_zvw_gemeente_2023.csv")
    # the real 2023 layout: lower case, cut at 32 characters, no year column, the new GGZ categories
    assert list(vektis.columns[:5]) == [
        "geslacht",
        "leeftijdsklasse",
        "gemeentenaam",
        "aantal_bsn",
        "aantal_verzekerdejaren",
    ]
    assert {"kosten_medisch_specialistische_z", "kosten_consulten_ggz"} <= set(vektis.columns)
    assert "jaar" not in vektis.columns and max(len(c) for c in vektis.columns) == 32
    assert set(vektis["geslacht"]) == {"M", "V"} and "5 t/m  9 jaar" in set(vektis["leeftijdsklasse"])
    # Vektis' later division: the 2023 file has no Brielle, its area is under Voorne aan Zee
    assert "VOORNE AAN ZEE" in set(vektis["gemeentenaam"]) and "BRIELLE" not in set(vektis["gemeentenaam"])
    pc3 = _read(out / "vektis_zvw" / "vektis_zvw_postcode3_2023.csv")
    assert pc3["postcode_3"].str.match(r"^\d{3}$").all()
    contracts = _read(out / "contracten" / "contracten_2023.csv")
    assert contracts["tarief"].str.match(r"^\d+,\d{2}$").all()
    budgets = _read(out / "budgetten" / "budgetten_2023.csv")
    assert set(budgets["domein"]) == {"jeugd", "wmo", "participatie"}
    interventions = _read(out / "interventies" / "interventies.csv")
    assert interventions["wijkcode"].str.match(r"^WK\d{6}$").all()
    starts = pd.to_datetime(interventions["startdatum"], format="%d-%m-%Y")
    for wijk, year in zip(interventions["wijkcode"], starts.dt.year, strict=True):
        codes = set(_kwb(out / "cbs_kwb" / f"kwb_{year}.csv")["WijkenEnBuurten"].str.strip())
        assert wijk in codes
    zorg = _read(out / "cbs_wijk_zorg" / "wijk_zorg_2023.csv")
    assert zorg["WijkenEnBuurten"].str.strip().str.match(r"^(GM\d{4}|WK\d{6})$").all()


def test_gebieden_geojson(demo):
    out, _, _ = demo
    for level, pattern in (("gemeenten", r"^GM\d{4}$"), ("wijken", r"^WK\d{6}$"), ("buurten", r"^BU\d{8}$")):
        data = json.loads((out / "gebieden" / f"{level}_2023.geojson").read_text(encoding="utf-8"))
        assert data["features"]
        for feature in data["features"]:
            props = feature["properties"]
            assert re.match(pattern, props["code"])
            assert {"code", "name", "level", "gemeente_code", "year"} <= set(props)
            assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
            lon, lat = (
                feature["geometry"]["coordinates"][0][0][0][:2]
                if feature["geometry"]["type"] == "MultiPolygon"
                else feature["geometry"]["coordinates"][0][0][:2]
            )
            assert 3.0 < lon < 7.5 and 50.5 < lat < 53.8


def test_merger_and_recoding(demo):
    out, truth_path, _ = demo
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    merger = truth["merger"]
    assert merger["new"] == "GM1992" and set(merger["old"]) == {"GM0501", "GM0530", "GM0614"}
    k22 = _kwb(out / "cbs_kwb" / "kwb_2022.csv")["WijkenEnBuurten"].str.strip()
    k23 = _kwb(out / "cbs_kwb" / "kwb_2023.csv")["WijkenEnBuurten"].str.strip()
    assert {"GM0501", "GM0530", "GM0614"} <= set(k22) and "GM1992" not in set(k22)
    assert "GM1992" in set(k23) and not ({"GM0501", "GM0530", "GM0614"} & set(k23))
    assert (out / "gemeente_jeugd" / "jeugd_GM0501_2022-12.csv").exists()
    assert (out / "gemeente_jeugd" / "jeugd_GM1992_2023-01.csv").exists()
    assert not (out / "gemeente_jeugd" / "jeugd_GM0501_2023-01.csv").exists()
    recode = truth["recode"]
    k24 = set(_kwb(out / "cbs_kwb" / "kwb_2024.csv")["WijkenEnBuurten"].str.strip())
    assert recode["old_wijk"] in set(k23) and recode["old_wijk"] not in k24
    assert len(recode["new_wijken"]) == 2 and set(recode["new_wijken"]) <= k24


def test_national_codes_exist_on_the_day_they_are_delivered():
    """Nationally every unit delivers, each month and each year, under a gemeente code that existed
    then: mergers after 2015 and after the 2022 map included, and wijk numbers stay two digits."""
    units = {u.code: u for u in national_plan(SEED, load_gemeenten())}
    ref = pd.read_csv(SEEDS / "ref_gemeenten.csv", dtype=str, keep_default_na=False).set_index("code")
    months = np.arange(2015 * 12, 2025 * 12)
    days = [f"{m // 12}-{m % 12 + 1:02d}-01" for m in months]
    for unit in units.values():
        codes = unit.gemeente_by_month(months)
        start = ref.loc[codes, "valid_from"].to_numpy()
        end = ref.loc[codes, "valid_to"].to_numpy()
        ok = ((start == "") | (start <= days)) & ((end == "") | (end > days))
        assert ok.all(), (unit.code, codes[~ok][0], np.array(days)[~ok][0])
        assert max(unit.n_wijken + era.wijk_offset for era in unit.eras) <= 99
    assert units["GM0457"].gemeente_by_month(np.array([2022 * 12 + 2, 2022 * 12 + 3])).tolist() == ["GM0457", "GM0363"]
    assert [units["GM1966"].gemeente_in(y) for y in (2018, 2019)] == ["GM0005", "GM1966"]
    assert units["GM0439"].gemeente_in(2015) == "GM0439"  # Purmerend continued when it took Beemster in
    assert units["GM0457"].eras[-1].wijk_offset == units["GM0363"].n_wijken
    shared = [[u.code for u in group] for group in delivery_groups(list(units.values())) if len(group) > 1]
    assert shared == [["GM0363", "GM0457"], ["GM0501", "GM0530", "GM0614"]]


def test_truth_keys(demo):
    _, truth_path, summary = demo
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    for key in (
        "scale",
        "seed",
        "years",
        "gemeenten",
        "merger",
        "recode",
        "models",
        "interventions",
        "intervention_effects",
        "providers",
        "multi_domain_households",
        "row_counts",
    ):
        assert key in truth, key
    assert truth["row_counts"] == summary
    assert truth["interventions"], "demo has interventions"
    assert {"b0", "b_low_income", "b_with_kids", "b_welfare"} <= set(truth["models"]["jeugd"]["coefficients"])
    multi = truth["multi_domain_households"]["2023"]
    assert multi["2"] > 0 and multi["3"] > 0


def test_planted_risk_relation(demo):
    """Wijken in the top risk quintile have clearly more new Jeugd trajectories per youth."""
    out, truth_path, _ = demo
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    c = truth["models"]["jeugd"]["coefficients"]
    kwb = _kwb(out / "cbs_kwb" / "kwb_2023.csv")
    wijk = kwb[kwb["SoortRegio_2"].str.strip() == "Wijk"].copy()
    buurt = kwb[kwb["SoortRegio_2"].str.strip() == "Buurt"].copy()
    num = lambda f, col: pd.to_numeric(f[col].replace(".", None))  # noqa: E731
    wijk["risk"] = (
        c["b_low_income"] * num(wijk, "HuishoudensMetEenLaagInkomen_87") / 100
        + c["b_with_kids"] * num(wijk, "HuishoudensMetKinderen_32") / num(wijk, "HuishoudensTotaal_29")
        + c["b_welfare"] * num(wijk, "PersonenPerSoortUitkeringBijstand_92") / num(wijk, "AantalInwoners_5")
    )
    wijk["youth"] = num(wijk, "k_0Tot15Jaar_8") + (0.3 * num(wijk, "k_15Tot25Jaar_9")).round()
    # postcode-4 -> wijk via the buurt rows
    buurt["wijk"] = "WK" + buurt["WijkenEnBuurten"].str.strip().str[2:8]
    pc_to_wijk = dict(zip(buurt["MeestVoorkomendePostcode_113"], buurt["wijk"], strict=False))
    jeugd = _municipal(out, "jeugd")
    start = pd.to_datetime(jeugd["startdatum"], format="%d-%m-%Y")
    new = jeugd[start.dt.year == 2023].drop_duplicates("trajectnummer")
    counts = new["postcode"].str[:4].map(pc_to_wijk).value_counts()
    wijk["code"] = wijk["WijkenEnBuurten"].str.strip()
    wijk["rate"] = wijk["code"].map(counts).fillna(0) / wijk["youth"]
    wijk = wijk[wijk["youth"] >= 100].dropna(subset=["risk"])
    q = pd.qcut(wijk["risk"], 5, labels=False)
    top = wijk.loc[q == 4, "rate"].mean()
    bottom = wijk.loc[q == 0, "rate"].mean()
    assert top > 1.3 * bottom, (top, bottom)
    assert np.corrcoef(wijk["risk"], np.log(wijk["rate"] + 1e-3))[0, 1] > 0.3


def test_dates_parse_everywhere(demo):
    out, _, _ = demo
    for path in (out / "gemeente_participatie").glob("participatie_GM0489_2023-0*.csv"):
        frame = _read(path)
        for column in ("geboortedatum", "startdatum"):
            parsed = pd.to_datetime(frame[column], format="%d-%m-%Y")
            assert (parsed < datetime(2030, 1, 1)).all()
