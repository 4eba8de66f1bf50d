"""Attacks on the whole published surface: an attacker with every published table, all levels and
years, recovers no hidden or small count (`dagster_project/ops/disclosure_attacks.py`
has the attacks; `mmr attack` runs them on an installation).

The planted tests show each attack finds what it looks for, so a clean result on the pipeline's
output means something; the pipeline tests run on what dashboards read, in both warehouse modes.
"""

from __future__ import annotations

import pandas as pd
import pytest

from dagster_project.ops import disclosure_attacks as attacks
from tests.conftest import Pipeline


def published_frames(pipeline: Pipeline) -> attacks.Frames:
    """Every published table, read the way `mmr attack` reads it in the pipeline's mode."""
    return attacks.published_surface(pipeline.settings)


@pytest.fixture(scope="module")
def findings(pipeline: Pipeline) -> dict[str, list[attacks.Finding]]:
    return attacks.run_all(published_frames(pipeline))


@pytest.mark.e2e
@pytest.mark.parametrize("attack", sorted(attacks.ATTACKS))
def test_attack_recovers_nothing(findings, attack):
    found = findings[attack]
    assert not found, f"{attack}: {len(found)} recoveries, e.g. {found[:5]}"


@pytest.mark.e2e
def test_the_attacks_had_something_to_attack(pipeline):
    """Not vacuous: rates, levels, changes and peer means are published, and cells are hidden."""
    frames = published_frames(pipeline)
    bench = frames["benchmark"]
    assert bench[bench["indicator"] == "jeugd_clienten_per_1000"]["waarde"].notna().sum() > 20
    assert frames["aanbieder_resultaat"]["uitval_pct"].notna().sum() > 0
    assert frames["interventie_effect"]["niveau_na"].notna().sum() > 0
    assert frames["raadsrapportage"]["vorig_jaar"].notna().sum() > 0
    assert bench["peer_gemiddelde"].notna().sum() > 0
    assert len(attacks.hidden_client_cells(frames)) > 0


# --- planted: each attack finds what the issue describes ------------------------------------


#: The columns of the planted published tables.
COLUMNS = {
    "benchmark": [
        "year",
        "gemeente_code",
        "area_level",
        "area_code",
        "indicator",
        "waarde",
        "peer_gemiddelde",
        "n_peers",
    ],
    "aanbieder_resultaat": [
        "year",
        "gemeente_code",
        "domein",
        "aanbieder_code",
        "afgesloten_trajecten",
        "uitval_pct",
        "doelrealisatie_pct",
        "uitval_pct_verandering",
        "doelrealisatie_pct_verandering",
    ],
    "interventie_effect": [
        "interventie_id",
        "wijk_code",
        "startjaar",
        "uitkomst",
        "niveau_voor",
        "n_maanden_voor",
        "niveau_na",
        "n_maanden_na",
    ],
    "populatiebekostiging": ["year", "gemeente_code", "wijk_code", "domein", "werkelijke_kosten"],
    "wijk_veerkracht": ["year", "wijk_code", "veerkracht_index", "veerkracht_verandering"],
    "raadsrapportage": [
        "year",
        "gemeente_code",
        "indicator",
        "waarde",
        "vorig_jaar",
        "verandering",
        "regio_gemiddelde",
        "n_in_regio",
        "regio_code",
        "nederland_gemiddelde",
    ],
}


def table(name: str, rows: list[tuple]) -> pd.DataFrame:
    """A planted table: the same columns wherever a test plants it."""
    return pd.DataFrame(rows, columns=COLUMNS[name])


def planted_frames(**overrides: pd.DataFrame) -> attacks.Frames:
    """A tiny published surface of one gemeente (GM0001, 2,120 + 1,000 inhabitants, two wijken)."""
    frames = {
        "benchmark": table(
            "benchmark",
            [
                # 26 of 2,120 (rounded inhabitants) exactly: the rate gives the count back
                (2022, "GM0001", "wijk", "WK000101", "jeugd_clienten_per_1000", 26 * 1000 / 2120, None, 5),
                (2022, "GM0001", "wijk", "WK000102", "jeugd_clienten_per_1000", None, None, 5),
                (2022, "GM0001", "gemeente", "GM0001", "jeugd_clienten_per_1000", 33 * 1000 / 3120, 7.0, 1),
            ],
        ),
        "wijk_kerncijfers": pd.DataFrame(
            [(2022, "GM0001", "WK000101", 2120), (2022, "GM0001", "WK000102", 1000)],
            columns=["year", "gemeente_code", "wijk_code", "inwoners"],
        ),
        "zvw_context": pd.DataFrame([(2022, "GM0001", 3120)], columns=["year", "gemeente_code", "inwoners"]),
        "verwacht_werkelijk": pd.DataFrame(
            [
                # both wijken hidden (a small one and its partner), as complementary suppression wants
                (2022, "GM0001", "WK000101", "jeugd", "clienten", None),
                (2022, "GM0001", "WK000102", "jeugd", "clienten", None),
            ],
            columns=["year", "gemeente_code", "wijk_code", "domein", "maat", "werkelijk"],
        ),
        "budget_realisatie": pd.DataFrame(
            [(2022, "GM0001", "jeugd", 35)], columns=["year", "gemeente_code", "domein", "clienten"]
        ),
        "raadsrapportage": table(
            "raadsrapportage",
            [
                (2022, "GM0001", "clienten_jeugd", 35, None, None, None, 1, "R1", None),
                (2023, "GM0001", "uitval_jeugd_pct", 7.5, None, 2.5, 7.5, 1, "R1", 7.5),
                (2022, "GM0001", "uitval_jeugd_pct", None, None, None, None, 1, "R1", None),
            ],
        ),
        "aanbieder_resultaat": table(
            "aanbieder_resultaat",
            [(2022, "GM0001", "jeugd", "A1", 15, 100 / 13, 50.0, 100 / 13 - 5, 50.0 - 40)],
        ),
        "interventie_effect": table(
            "interventie_effect",
            # 3 new trajectories in 12 months among 1,000 inhabitants: 3 per 1,000 per year
            [("I1", "WK000102", 2022, "nieuwe jeugdhulptrajecten", 3.0, 12, None, 0)],
        ),
        "populatiebekostiging": table(
            "populatiebekostiging",
            [(2022, "GM0001", "WK000102", "jeugd", 12345.0)],
        ),
        "wijk_veerkracht": table(
            "wijk_veerkracht",
            [(2022, "WK000101", None, None), (2023, "WK000101", 0.4, 0.1)],
        ),
    }
    frames.update(overrides)
    return attacks.Frames(frames)


def test_implied_numerator_needs_one_whole_number_in_the_rounding_interval():
    rate = pd.Series([26 * 1000 / 2120, 25 * 1000 / 2120, 0.0, None])
    base = pd.Series([2120, 2120, 2120, 2120])
    found = attacks.implied_numerator(rate, base, 1000.0, 2)
    assert found[0] == 26
    # 25/2120 = 5/424: several bases in 2118..2122 give whole numerators? only 2120 does, so 25
    assert found[1] == 25
    assert found[2] == 0
    assert pd.isna(found[3])


def test_planted_rate_times_inhabitants_recovers_the_hidden_partner():
    found = attacks.implied_counts(planted_frames())
    cells = {(f["cell"], f["value"]) for f in found}
    assert ("WK000101 2022 jeugd", 26) in cells, found
    assert ("A1 GM0001 2022 jeugd", 1) in {(f["cell"], f["value"]) for f in found}, "uitval 7.6923 % of 15 is 1 of 13"


def test_planted_gemeente_total_minus_known_wijk_gives_the_small_one():
    found = attacks.differencing_levels(planted_frames())
    assert [(f["cell"], f["value"]) for f in found] == [("WK000102 2022 jeugd", 7)]


def test_planted_intervention_level_implies_a_small_count():
    found = attacks.intervention_levels(planted_frames())
    assert [f["value"] for f in found] == [3]


def test_planted_hidden_cell_with_its_cost_published_elsewhere():
    found = attacks.hidden_here_published_there(planted_frames())
    assert {f["cell"] for f in found} == {"WK000101 2022 jeugd", "WK000102 2022 jeugd"}


def test_planted_change_gives_back_the_hidden_year_before():
    found = attacks.differencing_years(planted_frames())
    recovered = {(f["attack"].split(":")[0], round(float(f["value"]), 4)) for f in found}
    assert ("raadsrapportage", 5.0) in recovered
    assert ("wijk_veerkracht", 0.3) in recovered


def test_planted_means_over_one_or_two():
    found = attacks.small_averages(planted_frames())
    assert {f["attack"] for f in found} == {
        "peer mean over fewer than three",
        "regional mean over fewer than three gemeenten",
        "national mean over fewer than three gemeenten",
    }


def test_planted_clean_surface_gives_nothing():
    """The same surface as disclosure control publishes it: rates from rounded counts, no small means."""
    clean = planted_frames(
        benchmark=table(
            "benchmark",
            [
                (2022, "GM0001", "wijk", "WK000101", "jeugd_clienten_per_1000", None, None, 5),
                (2022, "GM0001", "wijk", "WK000102", "jeugd_clienten_per_1000", None, None, 5),
                (2022, "GM0001", "gemeente", "GM0001", "jeugd_clienten_per_1000", 35 * 1000 / 3120, None, 1),
            ],
        ),
        aanbieder_resultaat=table(
            "aanbieder_resultaat",
            [(2022, "GM0001", "jeugd", "A1", 15, None, 10 * 100 / 15, None, None)],
        ),
        interventie_effect=table(
            "interventie_effect",
            [("I1", "WK000102", 2022, "nieuwe jeugdhulptrajecten", None, 12, None, 0)],
        ),
        populatiebekostiging=table(
            "populatiebekostiging",
            [(2022, "GM0001", "WK000102", "jeugd", None)],
        ),
        raadsrapportage=table(
            "raadsrapportage",
            [(2022, "GM0001", "clienten_jeugd", 35, None, None, None, 1, "R1", None)],
        ),
        wijk_veerkracht=table(
            "wijk_veerkracht",
            [(2022, "WK000101", None, None), (2023, "WK000101", 0.4, None)],
        ),
    )
    assert attacks.run_all(clean) == {name: [] for name in attacks.ATTACKS}
