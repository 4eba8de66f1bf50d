"""Outcome analytics against the generator's planted truth, on the one shared demo run.

The demo is ten gemeenten (~90 wijken a year) over 2022-2024 with nine interventions; the planted
effects are strong enough to be found there: the GLM signs on ~90 wijken per year, the planted
over-users (Jeugd use x1.8 in wijken of at least median size), and the intervention effects per
type (pooled). A single intervention's interval is wide (one treated wijk, 2-22 months after its
start), so per intervention the test asks that the 95% intervals cover the planted multiplier
for all but the share a 95% interval may miss.
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import patsy
import pytest

from dagster_project.analytics.expected_care_use import ACTUAL_SQL, expected_vs_actual, wijk_use
from dagster_project.analytics.intervention_effects import fixed_effects_design
from dagster_project.analytics.population_funding import allocate, scenario_budgets
from dagster_project.analytics.warehouse_tables import PROFILE_TABLE, RISK_FACTORS, significant
from dagster_project.ops.published_digest import table_digest
from dagster_project.settings import Settings
from tests.superset_fixtures import INTERFACE_COLUMNS

pytestmark = pytest.mark.e2e

# the serving tables of the statistics, with the columns the dashboards read
INTERFACE = {
    table: INTERFACE_COLUMNS[table]
    for table in ("wijk_veerkracht", "verwacht_werkelijk", "interventie_effect", "benchmark", "populatiebekostiging")
}
# planted coefficient name -> term of the fitted model (risk factors as fractions)
PLANTED_TERMS = {
    "jeugd": {
        "b_low_income": "pct_laag_inkomen",
        "b_with_kids": "pct_huishoudens_met_kinderen",
        "b_welfare": "pct_bijstand",
    },
    "wmo": {"c_share_65": "pct_65_plus", "c_low_income": "pct_laag_inkomen", "c_welfare": "pct_bijstand"},
}
NEW_TRAJECTORIES = "nieuwe jeugdhulptrajecten per 1.000 inwoners per jaar"
# KWB 2024 (85984NED) publishes no share of low-income households: that year's models leave it out
NOT_PUBLISHED = {2024: {"pct_laag_inkomen"}}


def build(home: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(home / "warehouse" / "build.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


def serving(home: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(home / "warehouse" / "serving.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture(scope="module")
def truth(demo_home) -> dict:
    return json.loads((demo_home / "generator" / "truth.json").read_text(encoding="utf-8"))


def test_serving_tables_have_the_interface_columns(demo_home):
    for table, columns in INTERFACE.items():
        published = serving(demo_home, f"select * from main.{table} limit 0").columns
        assert set(columns) <= set(published), (table, set(columns) - set(published))
        assert len(serving(demo_home, f"select * from main.{table}")) > 0, table


def test_resilience_rank_is_a_permutation_ordered_by_the_index(demo_home):
    frame = build(demo_home, "select * from marts_outcome.wijk_veerkracht")
    ranked = frame.dropna(subset=["veerkracht_index"])
    assert len(ranked) > 0.9 * len(frame)
    for _year, part in ranked.groupby("year"):
        assert sorted(part["veerkracht_rang"].astype(int)) == list(range(1, len(part) + 1))
        assert (part["veerkracht_rang_van"] == len(part)).all()
        ordered = part.sort_values("veerkracht_rang")["veerkracht_index"].to_numpy()
        assert (np.diff(ordered) <= 0).all()
    later = frame[frame["year"] > frame["year"].min()]
    assert later["veerkracht_verandering"].notna().mean() > 0.9


def test_resilience_follows_the_weights_seed(demo_home):
    """The most resilient wijken have fewer low incomes and welfare than the least resilient."""
    frame = build(demo_home, "select * from marts_outcome.wijk_veerkracht where veerkracht_index is not null")
    top = frame[frame["veerkracht_rang"] <= frame["veerkracht_rang_van"] * 0.2]
    bottom = frame[frame["veerkracht_rang"] > frame["veerkracht_rang_van"] * 0.8]
    assert top["pct_laag_inkomen"].mean() < bottom["pct_laag_inkomen"].mean()
    assert frame.loc[frame["year"] == 2024, "pct_laag_inkomen"].isna().all()
    assert top["pct_bijstand"].mean() < bottom["pct_bijstand"].mean()


def test_expected_vs_actual_coefficients_have_the_planted_signs(demo_home, truth):
    coefficients = build(
        demo_home, "select * from analytics.expected_care_use_coefficients where maat = 'clienten'"
    ).set_index(["year", "domein", "term"])["coefficient"]
    years = truth["years"]
    for domain, terms in PLANTED_TERMS.items():
        planted = truth["models"][domain]["coefficients"]
        for name, term in terms.items():
            for year in years:
                if term in NOT_PUBLISHED.get(year, set()):
                    assert (year, domain, term) not in coefficients.index
                    continue
                fitted = coefficients[(year, domain, term)]
                assert np.sign(fitted) == np.sign(planted[name]), (domain, year, term, fitted, planted[name])
    # participation follows welfare dependency by construction
    for year in years:
        assert coefficients[(year, "participatie", "pct_bijstand")] > 0


def test_expected_vs_actual_are_the_same_figures_whatever_the_last_bits_of_the_inputs(demo_home):
    """The fits converge until nothing moves: inputs that differ in their last bits (another processor,
    another order of a sum) give the published figures to the digest's precision."""
    profile = build(demo_home, f"select * from {PROFILE_TABLE} order by year, wijk_code")
    actual = build(demo_home, ACTUAL_SQL)
    noise = np.random.default_rng(7)
    jittered = profile.copy()
    for factor in RISK_FACTORS:
        jittered[factor] = profile[factor] * (1 + 4e-16 * noise.standard_normal(len(profile)))
    assert not jittered[RISK_FACTORS].equals(profile[RISK_FACTORS])
    figures = [expected_vs_actual(wijk_use(frame, actual), 0.95) for frame in (profile, jittered)]
    for before, after in zip(*figures, strict=True):
        assert table_digest(before) == table_digest(after)


#: Fits the expected care use of a home's warehouse and prints a digest of its tables as written,
#: and an exact one of the same tables unrounded.
FIT_ON_THIS_PROCESSOR = """
import hashlib, json
import numpy as np
import pandas as pd
from dagster_project.analytics import expected_care_use as model
from dagster_project.analytics.warehouse_tables import query, risk_profile
from dagster_project.ops.published_digest import table_digest
from dagster_project.settings import get_settings

def exact(table):
    return hashlib.sha256(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes()).hexdigest()

settings = get_settings()
frame = model.wijk_use(risk_profile(settings), query(settings, model.ACTUAL_SQL))
written = model.expected_vs_actual(frame, 0.95)
model.significant = lambda values, digits=None: np.asarray(values, dtype=float)
model.estimates = lambda table, columns: table
unrounded = model.expected_vs_actual(frame, 0.95)
print(json.dumps({"written": [table_digest(t) for t in written], "unrounded": [exact(t) for t in unrounded]}))
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the kernels named are those of x86-64")
def test_expected_vs_actual_are_the_same_figures_on_every_processor(demo_home):
    """BLAS and numpy pick kernels by processor (FMA, AVX2, AVX-512), and the fits differ in their last
    digits with them; the estimates are written to four significant digits, so every processor
    writes the same figures. One fit takes this machine's own kernels, the other the oldest
    (SSE only)."""
    oldest = {"OPENBLAS_CORETYPE": "Nehalem", "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL"}
    own_machine = {name: value for name, value in os.environ.items() if name not in oldest}
    digests = []
    for kernels in ({}, oldest):
        env = {**own_machine, "MMR_HOME": str(demo_home), **kernels}
        fitted = subprocess.run(
            [sys.executable, "-c", FIT_ON_THIS_PROCESSOR], env=env, capture_output=True, text=True, check=True
        )
        digests.append(json.loads(fitted.stdout.strip().splitlines()[-1]))
    own, old = digests
    assert own["unrounded"] != old["unrounded"], "the two kernels should differ in the last digits"
    assert own["written"] == old["written"]
    written = build(demo_home, "select verwacht, ratio_ondergrens, ratio_bovengrens from analytics.expected_care_use")
    for column in written.columns:
        assert (significant(written[column]) == written[column].to_numpy()).all(), column


def test_flagged_wijken_include_the_planted_over_users(demo_home, truth):
    assert truth["over_users"], "the demo seed plants over-using wijken"
    flags = build(
        demo_home,
        "select year, wijk_code, signaal, ratio from analytics.expected_care_use "
        "where domein = 'jeugd' and maat = 'clienten'",
    )
    flags["key"] = list(zip(flags["year"].astype(int), flags["wijk_code"], strict=True))
    above = set(flags.loc[flags["signaal"] == "hoger dan verwacht", "key"])
    planted = {(int(year), code) for item in truth["over_users"] for year, code in item["wijk_codes"].items()}
    assert planted <= above, planted - above
    # the flag is selective: most wijken without planted over-use are within expectation
    others = flags[~flags["key"].isin(planted)]
    assert (others["signaal"] == "hoger dan verwacht").mean() < 0.2


def test_intervention_effects_cover_the_planted_multipliers(demo_home, truth):
    effects = build(
        demo_home, f"select * from analytics.intervention_effect where uitkomst = '{NEW_TRAJECTORIES}'"
    ).set_index("interventie_id")
    planted = {item["id"]: item["multiplier"] for item in truth["interventions"]}
    assert set(effects.index) == set(planted)
    estimated = effects.dropna(subset=["effect"])
    assert len(estimated) >= len(planted) - 1
    covered = [
        1 + row.effect_relatief_ondergrens <= planted[id_] <= 1 + row.effect_relatief_bovengrens
        for id_, row in estimated.iterrows()
    ]
    # 95% intervals: allow the misses a 95% interval may have among this many interventions
    assert sum(covered) >= len(covered) - max(1, round(0.1 * len(covered))), estimated
    for id_, row in estimated.iterrows():
        peers = row["vergelijkingswijken"].split(",")
        assert len(peers) == row["n_vergelijkingswijken"] > 0
        treated = {item["wijk_code"] for item in truth["interventions"]}
        assert not set(peers) & treated, id_


def test_intervention_types_pooled_find_the_effect_and_no_placebo_effect(demo_home, truth):
    by_type = build(
        demo_home, f"select * from analytics.intervention_effect_by_type where uitkomst = '{NEW_TRAJECTORIES}'"
    ).set_index("interventie_type")
    for kind, multiplier in truth["intervention_effects"].items():
        if kind not in by_type.index:
            continue
        row = by_type.loc[kind]
        assert 1 + row["effect_relatief_ondergrens"] <= multiplier <= 1 + row["effect_relatief_bovengrens"], (kind, row)
        if multiplier == 1.0:
            assert not row["significant"], (kind, row)
    placebo = [kind for kind, m in truth["intervention_effects"].items() if m == 1.0]
    assert set(placebo) & set(by_type.index), "the demo has a placebo intervention to test"


def test_the_fixed_effects_design_is_the_formulas_matrix():
    """The effects are fitted on a design made without a formula: it must be the matrix the
    formula `rate ~ C(unit) + C(period) + treated_after` gives, column for column."""
    data = pd.DataFrame(
        {
            "unit": ["WK2", "WK1", "WK3"] * 3,
            "period": ["2024-02"] * 3 + ["2024-01"] * 3 + ["2024-03"] * 3,
            "treated_after": [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            "rate": np.arange(9.0),
        }
    )
    formula = np.asarray(patsy.dmatrix("C(unit) + C(period) + treated_after", data))
    assert np.array_equal(fixed_effects_design(data), formula)


def test_allocation_adds_up_to_the_budget_per_gemeente_domain_year(demo_home):
    frame = build(
        demo_home,
        "select f.year, f.gemeente_code, f.domein, sum(f.budget_toegewezen) as allocated, "
        "max(f.budget_gemeente) as budget, max(b.begroting_na_wijziging) as fct_budget "
        "from analytics.population_funding as f join marts_core.fct_budget as b "
        "on f.gemeente_code = b.gemeente_code and f.year = b.year and f.domein = b.domain "
        "group by 1, 2, 3",
    )
    assert len(frame) > 0
    assert np.allclose(frame["allocated"], frame["budget"], rtol=1e-9)
    assert np.allclose(frame["budget"], frame["fct_budget"], rtol=1e-9)
    shares = build(
        demo_home,
        "select year, gemeente_code, domein, sum(verwachte_behoefte_aandeel) as s "
        "from analytics.population_funding group by all",
    )
    assert np.allclose(shares["s"], 1.0)


def test_funding_scenario_settings_change_the_allocation():
    need = pd.DataFrame(
        {
            "year": 2024,
            "gemeente_code": "GM0001",
            "wijk_code": ["WK000101", "WK000102"],
            "domein": "jeugd",
            "verwachte_kosten": [300.0, 100.0],
            "werkelijke_kosten": [250.0, 150.0],
            "clienten": [20, 12],
            "inwoners": [1000, 3000],
        }
    )
    budgets = pd.DataFrame(
        {
            "gemeente_code": ["GM0001"],
            "year": [2024],
            "domein": ["jeugd"],
            "begroting_primair": [800.0],
            "begroting_na_wijziging": [1000.0],
            "realisatie": [400.0],
        }
    )
    by_need = allocate(need, scenario_budgets(budgets, Settings()), 1.0, "t")
    assert by_need["budget_toegewezen"].tolist() == [750.0, 250.0]
    assert by_need["verschuiving"].tolist() == [500.0, 100.0]
    settings = Settings(funding_budget_column="begroting_primair", funding_budget_factor=0.5)
    halved = allocate(need, scenario_budgets(budgets, settings), 0.5, "t")
    # 400 allocated; shares 0.5 * (0.75, 0.25) + 0.5 * (0.25, 0.75) = (0.5, 0.5)
    assert halved["budget_toegewezen"].tolist() == [200.0, 200.0]
    overridden = Settings(funding_budget_overrides={"GM0001/jeugd/2024": 2000.0})
    assert allocate(need, scenario_budgets(budgets, overridden), 1.0, "t")["budget_toegewezen"].sum() == 2000.0


def test_published_analytics_respect_disclosure_control(demo_home):
    threshold, base = 10, 5
    counts = serving(demo_home, "select * from main.verwacht_werkelijk where maat = 'clienten'")
    shown = counts["werkelijk"].dropna()
    assert len(shown) > 0
    assert ((shown >= threshold) & (shown % base == 0)).all()
    assert counts.loc[counts["werkelijk"].isna(), ["ratio", "ratio_ondergrens", "signaal"]].isna().all().all()
    # no gemeente-domain-year hides exactly one wijk (it could be recovered from the gemeente total)
    hidden = counts.assign(h=counts["werkelijk"].isna()).groupby(["year", "gemeente_code", "domein"])["h"].sum()
    assert not (hidden == 1).any()
    funding = serving(demo_home, "select * from main.populatiebekostiging")
    hidden = (
        funding.assign(h=funding["werkelijke_kosten"].isna()).groupby(["year", "gemeente_code", "domein"])["h"].sum()
    )
    assert not (hidden == 1).any()
    assert funding.loc[funding["werkelijke_kosten"].isna(), "verschuiving"].isna().all()
    # a hidden benchmark value has no position; means only over published values
    bench = serving(demo_home, "select * from main.benchmark")
    assert bench.loc[bench["waarde"].isna(), "positie"].isna().all()
    assert (bench["positie"].dropna() <= bench.loc[bench["positie"].notna(), "n_peers"] + 1).all()
    assert serving(demo_home, "select count(*) as n from main.benchmark where gemeente_code is null")["n"][0] == 0


def test_analytics_run_between_the_marts_and_the_serving_models():
    """One run builds marts → analytics → serving → publish: the dbt project is split around the analytics."""
    import dagster as dg

    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    expected = graph.get(dg.AssetKey(["analytics", "expected_care_use"]))
    assert expected.group_name == "analytics"
    assert dg.AssetKey(["marts", "wijk_risicoprofiel"]) in expected.parent_keys
    serving_model = graph.get(dg.AssetKey(["serving", "serving_verwacht_werkelijk"]))
    assert dg.AssetKey(["analytics", "expected_care_use"]) in serving_model.parent_keys
    publish = graph.get(dg.AssetKey(["publish", "serving_database"]))
    for table in ("wijk_veerkracht", "verwacht_werkelijk", "interventie_effect", "benchmark", "populatiebekostiging"):
        assert dg.AssetKey(["serving", f"serving_{table}"]) in publish.parent_keys, table
    ops = {node.name for node in defs.resolve_job_def("mmr_job").graph.node_defs}
    assert {"mmr_dbt_models", "mmr_dbt_after_analytics", "expected_care_use_models"} <= ops
