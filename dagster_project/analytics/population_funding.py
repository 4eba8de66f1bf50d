"""Population-based funding (populatiegebonden bekostiging): a gemeente's budget over its wijken by expected need.

Method, per gemeente, domain and year:

* Budget: the column `funding_budget_column` of `fct_budget` (default the amended budget),
  times `funding_budget_factor`, unless `funding_budget_overrides` names the total for that
  gemeente/domain/year (settings, `MMR_*` environment variables: scenarios need no code change).
* Expected need of a wijk: its expected cost from the expected-care-use model (Tweedie GLM on
  the risk profile, `analytics.expected_care_use`, measure `kosten`) — what the wijk would cost
  if it used care like an average wijk with its risk profile.
* Share of a wijk: `w * need share + (1 - w) * inhabitant share`, with `w` =
  `funding_need_weight` (1 = purely by need); shares are taken over the wijken of the gemeente
  that have an expectation, so the allocations add up to the budget exactly.
* Allocation = share × budget; the shift (`verschuiving`) = allocation − actual cost of the
  wijk: positive where the wijk would receive more than it costs now.

Caveats: actual cost per wijk counts clients with a known wijk only, so the actual costs of a
gemeente do not add up to its realisation; a wijk with a missing risk factor has no expectation
and gets no allocation (its gemeente's budget goes to the other wijken).
"""

import dagster as dg
import numpy as np
import pandas as pd

from dagster_project.analytics.warehouse_tables import (
    NUMBER,
    TEXT,
    analysis_inputs,
    analytics_key,
    kept,
    mart_key,
    query,
    table_metadata,
    typed,
    write_tables,
)
from dagster_project.settings import Settings, get_settings

NEED_SQL = """
select
    expected.year,
    expected.gemeente_code,
    expected.wijk_code,
    expected.domein,
    expected.verwacht as verwachte_kosten,
    expected.werkelijk as werkelijke_kosten,
    expected.clienten,
    profile.inwoners
from analytics.expected_care_use as expected
inner join marts_outcome.wijk_risicoprofiel as profile
    on expected.wijk_code = profile.wijk_code and expected.year = profile.year
where expected.maat = 'kosten'
"""

BUDGET_SQL = """
select gemeente_code, year, domain as domein, begroting_primair, begroting_na_wijziging, realisatie
from marts_core.fct_budget
"""

COLUMNS = {
    "year": "int64",
    **dict.fromkeys(["gemeente_code", "wijk_code", "domein"], TEXT),
    **dict.fromkeys(["verwachte_kosten", "behoefte_aandeel", "inwoners_aandeel", "verwachte_behoefte_aandeel"], NUMBER),
    **dict.fromkeys(["budget_gemeente", "budget_toegewezen", "werkelijke_kosten", "verschuiving", "clienten"], NUMBER),
    "scenario": TEXT,
}


def scenario_budgets(budgets: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The budget total to allocate per gemeente, domain and year under the scenario settings."""
    out = budgets.assign(budget_gemeente=budgets[settings.funding_budget_column] * settings.funding_budget_factor)
    if settings.funding_budget_overrides:
        key = out["gemeente_code"] + "/" + out["domein"] + "/" + out["year"].astype(str)
        override = key.map(settings.funding_budget_overrides)
        out["budget_gemeente"] = override.fillna(out["budget_gemeente"])
    return out[["gemeente_code", "year", "domein", "budget_gemeente"]]


def allocate(need: pd.DataFrame, budgets: pd.DataFrame, need_weight: float, scenario: str) -> pd.DataFrame:
    """Each gemeente-domain-year budget over its wijken by blended need and inhabitant shares."""
    data = need.dropna(subset=["verwachte_kosten"]).merge(budgets, on=["gemeente_code", "year", "domein"])
    data = data[data["budget_gemeente"].notna()].copy()
    group = data.groupby(["gemeente_code", "year", "domein"])
    data["behoefte_aandeel"] = data["verwachte_kosten"] / group["verwachte_kosten"].transform("sum")
    data["inwoners_aandeel"] = data["inwoners"] / group["inwoners"].transform("sum")
    data["verwachte_behoefte_aandeel"] = (
        need_weight * data["behoefte_aandeel"] + (1.0 - need_weight) * data["inwoners_aandeel"]
    )
    data["budget_toegewezen"] = data["verwachte_behoefte_aandeel"] * data["budget_gemeente"]
    data["verschuiving"] = data["budget_toegewezen"] - data["werkelijke_kosten"]
    data["scenario"] = scenario
    allocation = data.replace([np.inf, -np.inf], np.nan)[list(COLUMNS)]
    return typed(allocation.sort_values(["year", "gemeente_code", "domein", "wijk_code"]), COLUMNS)


def describe_scenario(settings: Settings) -> str:
    parts = [f"budget={settings.funding_budget_column}", f"need_weight={settings.funding_need_weight:g}"]
    if settings.funding_budget_factor != 1.0:
        parts.append(f"factor={settings.funding_budget_factor:g}")
    if settings.funding_budget_overrides:
        parts.append(f"overrides={len(settings.funding_budget_overrides)}")
    return "; ".join(parts)


@dg.asset(
    key=analytics_key("population_funding"),
    deps=[analytics_key("expected_care_use"), mart_key("fct_budget"), mart_key("wijk_risicoprofiel")],
    group_name="analytics",
    kinds={"python", "duckdb"},
)
def population_funding_allocation(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Each gemeente's budget per domain allocated to its wijken by expected need, against actual spend
    (see the module docstring for the method, the scenario settings and caveats)."""
    settings = get_settings()
    inputs = analysis_inputs(context, settings, __name__)
    if inputs.unchanged():
        return kept(context)[0]

    scenario = describe_scenario(settings)
    allocation = allocate(
        query(settings, NEED_SQL),
        scenario_budgets(query(settings, BUDGET_SQL), settings),
        settings.funding_need_weight,
        scenario,
    )
    write_tables(settings, {"population_funding": allocation})
    inputs.note()
    shifts = (
        allocation.groupby(["year", "domein"])["verschuiving"]
        .agg(lambda s: s.clip(lower=0).sum())
        .rename("total_positive_shift")
        .reset_index()
    )
    return dg.MaterializeResult(
        metadata={
            **table_metadata(allocation),
            "scenario": scenario,
            "shifted_budget": dg.MetadataValue.md(shifts.to_markdown(index=False)),
        }
    )
