"""Outcome marts on the demo region against the generator's planted truth and the core facts.

Reads the build warehouse of the session's demo pipeline run (`demo_home`) read-only: the marts
are unsuppressed, so their numbers can be checked exactly.
"""

import json
from pathlib import Path

import duckdb
import pytest
from scipy.stats import spearmanr

pytestmark = pytest.mark.e2e

OUTCOME = "marts_outcome"
CORE = "marts_core"


@pytest.fixture(scope="module")
def warehouse(demo_home: Path):
    con = duckdb.connect(str(demo_home / "warehouse" / "build.duckdb"), read_only=True)
    truth = json.loads((demo_home / "generator" / "truth.json").read_text())
    yield con, truth
    con.close()


def test_households_per_number_of_domains_match_the_planted_truth(warehouse):
    con, truth = warehouse
    measured = {
        str(year): {"1": n1, "2": n2, "3": n3}
        for year, n1, n2, n3 in con.execute(
            f"""
            select year, sum(huishoudens_1_domein), sum(huishoudens_2_domeinen), sum(huishoudens_3_domeinen)
            from {OUTCOME}.sociaal_domein_3d group by year
            """
        ).fetchall()
    }
    assert measured == truth["multi_domain_households"]


def test_3d_parts_add_up_and_cost_reconciles(warehouse):
    con, _truth = warehouse
    broken = con.execute(
        f"""
        select count(*) from {OUTCOME}.sociaal_domein_3d
        where huishoudens_1_domein + huishoudens_2_domeinen + huishoudens_3_domeinen <> huishoudens_met_ondersteuning
           or huishoudens_2_domeinen + huishoudens_3_domeinen <> huishoudens_multi_domein
           or kosten_multi_domein > kosten_totaal + 0.01
           or aandeel_kosten_multi_domein not between 0 and 100
        """
    ).fetchone()[0]
    assert broken == 0
    differences = con.execute(
        f"""
        with mart as (select year, sum(kosten_totaal) as cost from {OUTCOME}.sociaal_domein_3d group by year),
        fact as (
            select cast(extract(year from month) as integer) as year, sum(cost) as cost
            from {CORE}.fct_client_month group by 1
        )
        select mart.year, mart.cost, fact.cost from mart join fact using (year)
        where abs(mart.cost - fact.cost) > 1
        """
    ).fetchall()
    assert not differences
    # multi-domain households are a minority but carry a larger share of the cost than of the count
    share_households, share_cost = con.execute(
        f"""
        select sum(huishoudens_multi_domein) * 100.0 / sum(huishoudens_met_ondersteuning),
               sum(kosten_multi_domein) * 100.0 / sum(kosten_totaal)
        from {OUTCOME}.sociaal_domein_3d
        """
    ).fetchone()
    assert 0 < share_households < 50
    assert share_cost > share_households


def test_zvw_context_reconciles_with_the_facts(warehouse):
    con, _truth = warehouse
    mart = dict(con.execute(f"select year, sum(zvw_kosten_totaal) from {OUTCOME}.zvw_context group by 1").fetchall())
    fact = dict(con.execute(f"select year, sum(cost) from {CORE}.fct_zvw_cost group by 1").fetchall())
    for year, cost in mart.items():
        assert float(cost) == pytest.approx(float(fact[year]), rel=1e-9)
    assert con.execute(
        f"select count(*) from {OUTCOME}.zvw_context where zvw_kosten_ggz > zvw_kosten_totaal or inwoners is null"
    ).fetchone() == (0,)
    multi = con.execute(
        f"""
        select abs(sum(z.kosten_multi_domein) - (select sum(kosten_multi_domein) from {OUTCOME}.sociaal_domein_3d))
        from {OUTCOME}.zvw_context as z
        """
    ).fetchone()[0]
    assert multi < 1


def provider_rates(con, numerator: str, denominator: str, domain: str | None = None) -> dict[str, float]:
    where = f"where domein = '{domain}'" if domain else ""
    return {
        code: rate
        for code, rate, base in con.execute(
            f"""
            select aanbieder_code, sum({numerator}) * 1.0 / nullif(sum({denominator}), 0), sum({denominator})
            from {OUTCOME}.aanbieder_resultaat {where} group by 1
            """
        ).fetchall()
        if base and base >= 30
    }


def ranking_agreement(measured: dict[str, float], planted: dict[str, float]) -> tuple[float, int]:
    codes = sorted(set(measured) & set(planted))
    rho = spearmanr([measured[c] for c in codes], [planted[c] for c in codes]).statistic
    return rho, len(codes)


def test_goal_attainment_ranks_providers_as_planted(warehouse):
    con, truth = warehouse
    planted = {code: p["goal_logodds"] for code, p in truth["providers"].items() if p["domain"] == "jeugd"}
    measured = provider_rates(con, "doel_bereikt", "doel_beoordeeld", "jeugd")
    rho, n = ranking_agreement(measured, planted)
    assert n >= 10
    assert rho > 0.7, f"Spearman {rho:.2f} over {n} providers"
    best = max(measured, key=measured.get)
    worst = min(measured, key=measured.get)
    assert planted[best] > planted[worst]


def test_dropout_ranks_providers_as_planted(warehouse):
    con, truth = warehouse
    planted = {code: p["dropout_logodds"] for code, p in truth["providers"].items() if p["domain"] == "jeugd"}
    rho, n = ranking_agreement(provider_rates(con, "uitgevallen", "afgesloten_trajecten", "jeugd"), planted)
    assert n >= 10
    assert rho > 0.7, f"Spearman {rho:.2f} over {n} providers"


def test_satisfaction_ranks_providers_as_planted(warehouse):
    con, truth = warehouse
    planted = {code: p["satisfaction"] for code, p in truth["providers"].items()}
    measured = provider_rates(con, "antwoorden_positief", "antwoorden")
    rho, n = ranking_agreement(measured, planted)
    assert n >= 10
    assert rho > 0.7, f"Spearman {rho:.2f} over {n} providers"


def test_provider_rates_and_changes_are_consistent(warehouse):
    con, _truth = warehouse
    assert con.execute(
        f"""
        select count(*) from {OUTCOME}.aanbieder_resultaat
        where doelrealisatie_pct not between 0 and 100 or uitval_pct not between 0 and 100
           or herinstroom_pct not between 0 and 100 or tevredenheid_pct not between 0 and 100
           or (domein = 'wmo' and doelrealisatie_pct is not null)
           or heringestroomd > afgesloten_met_follow_up or afgesloten_met_follow_up > afgesloten_trajecten
        """
    ).fetchone() == (0,)
    # the change is this year's rate minus last year's, per provider and gemeente
    mismatches = con.execute(
        f"""
        select count(*) from {OUTCOME}.aanbieder_resultaat as cur
        join {OUTCOME}.aanbieder_resultaat as prev
          on prev.gemeente_code = cur.gemeente_code and prev.domein = cur.domein
         and prev.aanbieder_code = cur.aanbieder_code and prev.year = cur.year - 1
        where abs(cur.uitval_pct_verandering - (cur.uitval_pct - prev.uitval_pct)) > 1e-9
        """
    ).fetchone()[0]
    assert mismatches == 0
    # re-entry needs a year of follow-up: in the last data year almost no ended episode has it
    last_year = con.execute(f"select max(year) from {OUTCOME}.aanbieder_resultaat").fetchone()[0]
    share_last, share_before = con.execute(
        f"""
        select sum(afgesloten_met_follow_up) filter (where year = ?) * 1.0
                   / sum(afgesloten_trajecten) filter (where year = ?),
               sum(afgesloten_met_follow_up) filter (where year < ?) * 1.0
                   / sum(afgesloten_trajecten) filter (where year < ?)
        from {OUTCOME}.aanbieder_resultaat
        """,
        [last_year] * 4,
    ).fetchone()
    assert share_last < 0.05 < share_before


def test_budget_realisation_matches_the_budget_fact(warehouse):
    con, _truth = warehouse
    mart = con.execute(
        f"select sum(budget), sum(realisatie), sum(verschil) from {OUTCOME}.budget_realisatie"
    ).fetchone()
    fact = con.execute(
        f"select sum(coalesce(begroting_na_wijziging, begroting_primair)), sum(realisatie) from {CORE}.fct_budget"
    ).fetchone()
    assert float(mart[0]) == pytest.approx(float(fact[0]))
    assert float(mart[1]) == pytest.approx(float(fact[1]))
    assert float(mart[2]) == pytest.approx(float(fact[1]) - float(fact[0]))
    assert con.execute(
        f"select count(*) from {OUTCOME}.budget_realisatie "
        "where abs(realisatie_pct - realisatie * 100.0 / budget) > 1e-6"
    ).fetchone() == (0,)


def test_council_report_has_trend_and_benchmark(warehouse):
    con, _truth = warehouse
    per_gemeente_year = con.execute(
        f"select count(distinct indicator) from {OUTCOME}.raadsrapportage group by year, gemeente_code"
    ).fetchall()
    assert {n for (n,) in per_gemeente_year} == {15}
    assert con.execute(
        f"""
        select count(*) from {OUTCOME}.raadsrapportage as cur
        join {OUTCOME}.raadsrapportage as prev
          on prev.gemeente_code = cur.gemeente_code and prev.indicator = cur.indicator and prev.year = cur.year - 1
        where cur.vorig_jaar is distinct from prev.waarde
           or abs(cur.verandering - (cur.waarde - prev.waarde)) > 1e-9
        """
    ).fetchone() == (0,)
    assert con.execute(
        f"""
        select count(*) from {OUTCOME}.raadsrapportage
        where waarde is not null and (positie_in_regio not between 1 and n_in_regio or regio_gemiddelde is null
            or nederland_gemiddelde is null)
        """
    ).fetchone() == (0,)
    # rank 1 in the region on goal attainment is the gemeente with the highest value there
    leaders = con.execute(
        f"""
        select count(*) from {OUTCOME}.raadsrapportage as r
        where indicator = 'doelrealisatie_jeugd_pct' and positie_in_regio = 1
          and waarde < (select max(waarde) from {OUTCOME}.raadsrapportage as o
                        where o.indicator = r.indicator and o.year = r.year and o.regio_code = r.regio_code)
        """
    ).fetchone()[0]
    assert leaders == 0
    # for drop-out, lower is better: rank 1 holds the lowest value
    assert con.execute(
        f"""
        select count(*) from {OUTCOME}.raadsrapportage as r
        where indicator = 'uitval_jeugd_pct' and positie_in_regio = 1
          and waarde > (select min(waarde) from {OUTCOME}.raadsrapportage as o
                        where o.indicator = r.indicator and o.year = r.year and o.regio_code = r.regio_code)
        """
    ).fetchone() == (0,)


def test_wijk_outcomes_add_up_to_the_episodes(warehouse):
    con, _truth = warehouse
    per_wijk = dict(
        con.execute(f"select domein, sum(afgesloten_trajecten) from {OUTCOME}.wijk_resultaat group by 1").fetchall()
    )
    episodes = dict(
        con.execute(
            f"select domain, count(*) from {OUTCOME}.care_episode_outcome where wijk_code is not null group by 1"
        ).fetchall()
    )
    assert per_wijk["jeugd"] == episodes["jeugd"] > 0
    assert per_wijk["wmo"] == episodes["wmo"] > 0
    # the region's Jeugd rates are the same whether counted per wijk or per provider
    by_wijk, by_provider = (
        con.execute(
            f"select sum(uitgevallen) * 1.0 / sum(afgesloten_trajecten), sum(doel_bereikt) * 1.0 / sum(doel_beoordeeld)"
            f" from {OUTCOME}.{mart} where domein = 'jeugd'"
        ).fetchone()
        for mart in ("wijk_resultaat", "aanbieder_resultaat")
    )
    assert by_wijk == pytest.approx(by_provider, abs=0.005)


def test_wijk_outcomes_follow_the_planted_risk_effect(warehouse):
    """Planted: goal attainment falls and drop-out rises with a wijk's risk score (low income drives it)."""
    con, _truth = warehouse
    rows = con.execute(
        f"""
        select sum(w.doel_bereikt) * 1.0 / sum(w.doel_beoordeeld),
               sum(w.uitgevallen) * 1.0 / sum(w.afgesloten_trajecten),
               avg(i.value)
        from {OUTCOME}.wijk_resultaat as w
        join {CORE}.fct_area_indicator as i
          on i.area_code = w.wijk_code and i.year = w.year and i.indicator_code = 'aandeel_laag_inkomen'
        where w.domein = 'jeugd'
        group by w.wijk_code
        having sum(w.afgesloten_trajecten) >= 50
        """
    ).fetchall()
    assert len(rows) >= 30
    goal, dropout, low_income = zip(*rows, strict=True)
    assert spearmanr(goal, low_income).statistic < -0.2
    assert spearmanr(dropout, low_income).statistic > 0.2
