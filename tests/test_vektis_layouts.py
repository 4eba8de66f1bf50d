"""Vektis Zvw files in the layouts Vektis really used (2015, 2020, 2023) are ingested as delivered.

The fixtures under `tests/fixtures/vektis/` carry the real header lines (see their README); the
files land in `var/landing/vektis_zvw/` byte for byte, as a user would drop them there.
"""

import logging
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from dagster_project import ingest
from dagster_project.settings import Settings
from dagster_project.sources import vektis_layout, vektis_zvw
from dagster_project.synthetic import vektis as synthetic_vektis
from tests.conftest import FIXTURES

VEKTIS = FIXTURES / "vektis"
FILES = {
    2015: VEKTIS / "Gemeentebestanden 2011-2016" / "Vektis Open Databestand Zorgverzekeringswet 2015 - gemeente.csv",
    2020: VEKTIS / "2020" / "Vektis Open Databestand Zorgverzekeringswet 2020 - gemeente_versie2.csv",
    2023: VEKTIS / "2023" / "Vektis Open Databestand Zorgverzekeringswet 2023 - gemeente.csv",
}
HEADER_2023 = (
    "geslacht;leeftijdsklasse;gemeentenaam;aantal_bsn;aantal_verzekerdejaren;kosten_medisch_specialistische_z;"
    "kosten_farmacie;kosten_huisarts_inschrijftarief;kosten_huisarts_consult;kosten_huisarts_mdz;"
    "kosten_huisarts_overig;kosten_hulpmiddelen;kosten_mondzorg;kosten_paramedische_zorg_fysioth;"
    "kosten_paramedische_zorg_overig;kosten_ziekenvervoer_zittend;kosten_ziekenvervoer_liggend;kosten_kraamzorg;"
    "kosten_verloskundige_zorg;kosten_grensoverschrijdende_zorg;kosten_eerstelijns_ondersteuning;"
    "kosten_geriatrische_revalidatiez;kosten_eerstelijnsverblijf;kosten_verpleging_en_verzorging;kosten_gzsp;"
    "kosten_integrale_geboortezorg;kosten_innovatiegelden_ggz;kosten_overig;kosten_consulten_ggz;"
    "kosten_intramuraal_verblijf_ggz;kosten_overige_prestaties_ggz"
)
#: What each fixture's gemeente names stand for in its year (2020: Maashorst is of a later division).
CODES = {
    2015: {
        "BRIELLE": "GM0501",
        "HELLEVOETSLUIS": "GM0530",
        "WESTVOORNE": "GM0614",
        "ZEEVANG": "GM0478",
        "'S-GRAVENHAGE": "GM0518",
    },
    2020: {"BARENDRECHT": "GM0489", "BRIELLE": "GM0501", "MAASHORST": "GM1991"},
    2023: {"BARENDRECHT": "GM0489", "VOORNE AAN ZEE": "GM1992", "SÚDWEST-FRYSLÂN": "GM1900"},
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "var", pseudonym_key="test-key")


def read_fixture(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    return pd.read_csv(pd.io.common.StringIO(text), sep=";", dtype=str, keep_default_na=False)


def land(settings: Settings, year: int, content: bytes, level: str = "gemeente") -> None:
    folder = settings.landing_dir / "vektis_zvw"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"vektis_zvw_{level}_{year}.csv").write_bytes(content)


def raw_rows(settings: Settings) -> pd.DataFrame:
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        return con.execute("select * from raw.vektis_zvw_gemeente").df()


def test_the_2023_fixture_has_the_real_header_byte_for_byte():
    first = FILES[2023].read_bytes().split(b"\r\n", 1)[0]
    assert first == HEADER_2023.encode("ascii")
    assert len(HEADER_2023.split(";")) == 31 and max(len(c) for c in HEADER_2023.split(";")) == 32


@pytest.mark.parametrize("year", sorted(FILES))
def test_each_real_layout_is_ingested_whole(settings, year):
    land(settings, year, FILES[year].read_bytes())
    stats = ingest.ingest_source([vektis_zvw.GEMEENTE_SPEC], settings)[vektis_zvw.GEMEENTE_SPEC.asset_key]
    published = read_fixture(FILES[year])
    assert stats["rows_ingested"] == len(published) and stats["quarantined_rows"] == 0, stats
    raw = raw_rows(settings)
    assert set(raw["jaar"]) == {year}
    assert dict(zip(raw["gemeentenaam"], raw["gemeentecode"], strict=True)) == CODES[year]
    assert set(raw["leeftijdsklasse"]) == set(vektis_layout.AGE_CLASSES)
    # every cost column of the file arrives under its category, none is dropped: totals agree
    costs = [c for c in published.columns if c.lower().startswith("kosten_")]
    delivered = published[costs].astype(float).sum(axis=1).sum()
    built = raw[[c.lower() for c in vektis_layout.COSTS]].astype(float).sum(axis=1).sum()
    assert built == pytest.approx(delivered, rel=1e-12)
    assert raw["kosten_onbekende_categorie"].isna().all()


def test_layout_specific_columns_and_age_classes(settings):
    for year, path in FILES.items():
        land(settings, year, path.read_bytes())
    ingest.ingest_source([vektis_zvw.GEMEENTE_SPEC], settings)
    raw = raw_rows(settings).set_index(["jaar", "gemeentenaam", "geslacht", "leeftijdsklasse"]).sort_index()
    for year, published_column, category in [
        (2015, "KOSTEN_SPECIALISTISCHE_GGZ", "specialistische_ggz"),
        (2015, "KOSTEN_EERSTELIJNS_ONDERSTEUNING", "eerstelijns_ondersteuning"),
        (2020, "kosten_langdurige_ggz", "langdurige_ggz"),
        (2023, "kosten_geriatrische_revalidatiez", "geriatrische_revalidatiezorg"),
        (2023, "kosten_consulten_ggz", "consulten_ggz"),
    ]:
        published = read_fixture(FILES[year])
        cell = published.iloc[1]  # the second age class of the first gemeente: `5 t/m  9 jaar`
        name = cell[published.columns[2]]
        assert cell[published.columns[1]] == "5 t/m  9 jaar"
        built = raw.loc[(year, name, cell[published.columns[0]], "5"), f"kosten_{category}"]
        assert float(built) == float(cell[published_column]), (year, published_column)
    # a category the year's file does not have is unknown, not zero
    assert raw.loc[2015, "kosten_huisarts_consult"].isna().all()
    assert raw.loc[2023, "kosten_specialistische_ggz"].isna().all()
    assert raw.loc[2020, "kosten_consulten_ggz"].isna().all()


def test_unknown_cost_columns_count_in_the_rest_bucket_with_a_warning(settings, caplog):
    published = read_fixture(FILES[2023])
    published["kosten_nieuwe_prestatie"] = "10.50"
    published["kosten_tweede_onbekende_categorie_met_lange_naam"] = "1,25"
    land(settings, 2023, published.to_csv(sep=";", index=False).encode("utf-8"))
    with caplog.at_level(logging.WARNING, logger="mmr.ingest"):
        stats = ingest.ingest_source([vektis_zvw.GEMEENTE_SPEC], settings)[vektis_zvw.GEMEENTE_SPEC.asset_key]
    assert stats["quarantined_rows"] == 0
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "kosten_nieuwe_prestatie" in warning and "KOSTEN_ONBEKENDE_CATEGORIE" in warning
    assert "vektis_zvw_gemeente_2023.csv" in warning
    raw = raw_rows(settings)
    assert set(raw["kosten_onbekende_categorie"].astype(float)) == {11.75}
    delivered = published[[c for c in published.columns if c.startswith("kosten_")]]
    delivered = delivered.apply(lambda s: s.str.replace(",", ".")).astype(float).sum(axis=1).sum()
    assert raw[[c.lower() for c in vektis_layout.COSTS]].astype(float).sum(axis=1).sum() == pytest.approx(delivered)


def test_unknown_and_vanished_gemeente_names_are_quarantined_with_the_rule(settings):
    published = read_fixture(FILES[2023])
    published.loc[0, "gemeentenaam"] = "ATLANTIS"
    published.loc[1, "gemeentenaam"] = "BRIELLE"  # merged into Voorne aan Zee on 1 January 2023
    land(settings, 2023, published.to_csv(sep=";", index=False).encode("utf-8"))
    stats = ingest.ingest_source([vektis_zvw.GEMEENTE_SPEC], settings)[vektis_zvw.GEMEENTE_SPEC.asset_key]
    assert stats["quarantined_rows"] == 2 and stats["rows_ingested"] == len(published) - 2
    (reasons_file,) = (settings.quarantine_dir / "vektis_zvw").glob("*/reasons.csv")
    reasons = pd.read_csv(reasons_file, dtype=str)
    by_row = dict(zip(reasons["row"], reasons["rule"], strict=True))
    assert by_row == {"2": "known_ref_gemeenten_naam", "3": "gemeente_valid_in_period"}
    assert reasons["message"].str.contains("vektis_zvw_gemeente_2023.csv, row 2, column GEMEENTENAAM").any()
    assert raw_rows(settings)["gemeentecode"].notna().all()


def test_the_generator_imitates_each_years_layout():
    frame = synthetic_vektis.rows_for(1, "gemeente1", 2023, "GEMEENTENAAM", "BRIELLE", np.full(19, 100.0), 0.5, 0.08)
    assert ";".join(synthetic_vektis.published(frame, 2023).columns) == HEADER_2023
    upper = list(synthetic_vektis.published(frame.assign(JAAR=2015), 2015).columns)
    known_2015 = read_fixture(FILES[2015]).columns
    assert upper[:5] == list(known_2015[:5]) and set(known_2015) <= set(upper) and "JAAR" not in upper
    full = list(synthetic_vektis.published(frame.assign(JAAR=2020), 2020).columns)
    assert full[5] == "kosten_medisch_specialistische_zorg" and full[-1] == "kosten_overig"
    assert set(read_fixture(FILES[2020]).columns) == set(full)
    labels = synthetic_vektis.published(frame, 2023)["leeftijdsklasse"]
    assert {"5 t/m  9 jaar", "10 t/m 14 jaar"} <= set(labels)


def test_dbt_knows_the_same_categories_as_the_reader():
    macro = (Path(__file__).parents[1] / "dbt" / "macros" / "vektis.sql").read_text()
    listed = re.search(r"vektis_cost_categories\(\) -%}(.*?)endmacro", macro, re.S).group(1)
    assert re.findall(r"'(\w+)'", listed) == [*vektis_layout.CATEGORIES, vektis_layout.REST]
