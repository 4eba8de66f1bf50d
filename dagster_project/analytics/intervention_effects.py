"""Effects of interventions: difference-in-differences against comparable wijken.

Method, per intervention in the register (`fct_intervention`) and per outcome:

* Panel: wijken on the reference division (`reference_wijk_code`), so a wijk keeps one
  identity through a merger; only wijken that map one-to-one in every year are used (a wijk
  that was split has no comparable series). Months are the months of the municipal exports.
* Outcomes per wijk and month, per 1,000 inhabitants (KWB inhabitants of the year):
  `nieuwe jeugdhulptrajecten per 1.000 inwoners per jaar` — first Jeugd trajectories (a client
  without a Jeugd trajectory that ended less than 12 months before), annualised; and
  `jeugdcliënten per 1.000 inwoners` — clients with Jeugd support in the month.
* Comparison wijken: the `analytics_comparison_wijken` nearest wijken (scikit-learn
  `NearestNeighbors`, Euclidean on the risk factors standardised over all wijken of the year)
  by their risk profile in the year before the start, among wijken without any intervention.
* Estimate: OLS `rate ~ wijk + month + treated × after` (statsmodels, wijk and month fixed
  effects, heteroskedasticity-robust HC1 standard errors; the start month itself is left out
  as partly treated). `effect` is the change in the rate caused by the intervention; the
  relative effect divides it by the counterfactual level after the start (the treated wijk's
  mean after the start minus the effect), so `1 + effect_relatief` estimates the multiplier.
* Per intervention type, a stacked difference-in-differences pools every intervention of the
  type (fixed effects per intervention × wijk and intervention × month, standard errors
  clustered by wijk, since comparison wijken can serve several interventions).

Caveats: one treated wijk gives a wide interval, especially with few months after the start;
the comparison assumes parallel trends of the matched wijken (check the levels before the
start, `niveau_voor`); a type effect pools interventions that may differ in practice. The
first months of the exports cannot tell a first trajectory from a re-entry after a trajectory
that ended before the exports began; the month fixed effects absorb this for all wijken alike.
"""

import dagster as dg
import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy.stats import norm
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from dagster_project.analytics.warehouse_tables import (
    RISK_FACTORS,
    analytics_key,
    mart_key,
    query,
    risk_profile,
    table_metadata,
    write_tables,
)
from dagster_project.settings import get_settings

OUTCOME_NEW = "nieuwe jeugdhulptrajecten per 1.000 inwoners per jaar"
OUTCOME_CLIENTS = "jeugdcliënten per 1.000 inwoners"
FAMILY_CONTEXT = ["pct_eenoudergezinnen", "pct_laag_inkomen", "pct_bijstand"]

# One row per reference wijk × month × outcome with the count; wijken mapping one-to-one only.
PANEL_SQL = """
with profile as (
    select * from marts_outcome.wijk_risicoprofiel
),
years as (
    select count(distinct year) as n_years from profile
),
usable as (
    select reference_wijk_code
    from profile
    group by reference_wijk_code
    having
        count(*) = (select n_years from years)
        and count(distinct year) = (select n_years from years)
        and max(n_reference_areas) = 1
),
population as (
    select profile.reference_wijk_code, profile.year, profile.inwoners
    from profile
    inner join usable on profile.reference_wijk_code = usable.reference_wijk_code
),
months as (
    select distinct month from marts_core.fct_client_month where domain = 'jeugd'
),
episodes as (
    select
        client_key,
        reference_wijk_code,
        start_date,
        max(coalesce(end_date, date '9999-12-31')) over (
            partition by client_key order by start_date, episode_key
            rows between unbounded preceding and 1 preceding
        ) as previous_end
    from marts_core.fct_care_episode
    where domain = 'jeugd'
),
new_trajectories as (
    select reference_wijk_code, date_trunc('month', start_date) as month, count(*) as n
    from episodes
    where previous_end is null or previous_end < start_date - interval 365 day
    group by 1, 2
),
clients as (
    select reference_wijk_code, month, count(distinct client_key) as n
    from marts_core.fct_client_month
    where domain = 'jeugd'
    group by 1, 2
),
grid as (
    select population.reference_wijk_code, months.month, population.inwoners
    from population
    inner join months on population.year = cast(extract(year from months.month) as integer)
)
select
    grid.reference_wijk_code,
    cast(grid.month as date) as month,
    grid.inwoners,
    coalesce(new_trajectories.n, 0) as new_trajectories,
    coalesce(clients.n, 0) as clients
from grid
left join new_trajectories
    on grid.reference_wijk_code = new_trajectories.reference_wijk_code
    and grid.month = new_trajectories.month
left join clients
    on grid.reference_wijk_code = clients.reference_wijk_code
    and grid.month = clients.month
where grid.inwoners > 0
"""

INTERVENTIONS_SQL = """
select
    interventie_id,
    gemeente_code,
    wijk_code,
    reference_wijk_code,
    interventie_type,
    start_date,
    cast(extract(year from start_date) as integer) as startjaar
from marts_core.fct_intervention
order by interventie_id
"""


def outcome_panel(raw: pd.DataFrame) -> pd.DataFrame:
    """Long panel: one row per reference wijk, month and outcome, with the rate per 1,000 inhabitants."""
    raw = raw.assign(month=pd.to_datetime(raw["month"]))
    new = raw.assign(uitkomst=OUTCOME_NEW, rate=raw["new_trajectories"] * 12_000.0 / raw["inwoners"])
    clients = raw.assign(uitkomst=OUTCOME_CLIENTS, rate=raw["clients"] * 1_000.0 / raw["inwoners"])
    return pd.concat([new, clients], ignore_index=True)[["reference_wijk_code", "month", "uitkomst", "rate"]]


def comparison_wijken(
    profile: pd.DataFrame, treated_code: str, year: int, candidates: set[str], k: int
) -> tuple[list[str], pd.Series | None]:
    """The k wijken nearest to the treated wijk by risk profile in `year` (standardised over all wijken)."""
    rows = profile[profile["year"] == year].dropna(subset=RISK_FACTORS).drop_duplicates("reference_wijk_code")
    treated = rows[rows["reference_wijk_code"] == treated_code]
    pool = rows[rows["reference_wijk_code"].isin(candidates)]
    if treated.empty or pool.empty:
        return [], None
    scaler = StandardScaler().fit(rows[RISK_FACTORS].to_numpy(dtype=float))
    nn = NearestNeighbors(n_neighbors=min(k, len(pool))).fit(scaler.transform(pool[RISK_FACTORS].to_numpy(float)))
    _, index = nn.kneighbors(scaler.transform(treated[RISK_FACTORS].to_numpy(float)))
    return pool["reference_wijk_code"].iloc[index[0]].tolist(), treated.iloc[0]


def did(panel: pd.DataFrame, treated: pd.Series, start_month: pd.Timestamp, confidence: float, cluster: bool):
    """OLS with unit and time fixed effects; `treated` marks the treated unit's rows."""
    data = panel[panel["month"] != start_month].copy()
    data["treated_after"] = (treated.loc[data.index] & (data["month"] > start_month)).astype(float)
    if data["treated_after"].sum() == 0 or (treated.loc[data.index] & (data["month"] < start_month)).sum() == 0:
        return None
    model = smf.ols("rate ~ C(unit) + C(period) + treated_after", data=data)
    fit = (
        model.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(data["cluster"])[0]})
        if cluster
        else model.fit(cov_type="HC1")
    )
    effect = float(fit.params["treated_after"])
    se = float(fit.bse["treated_after"])
    z = norm.ppf(0.5 + confidence / 2.0)
    after = data.loc[data["treated_after"] == 1, "rate"].mean()
    before = data.loc[treated.loc[data.index] & (data["month"] < start_month), "rate"].mean()
    baseline = after - effect

    def relative(value: float) -> float:
        return value / baseline if baseline > 0 else np.nan

    return {
        "effect": effect,
        "effect_ondergrens": effect - z * se,
        "effect_bovengrens": effect + z * se,
        "standaardfout": se,
        "p_waarde": float(fit.pvalues["treated_after"]),
        "effect_relatief": relative(effect),
        "effect_relatief_ondergrens": relative(effect - z * se),
        "effect_relatief_bovengrens": relative(effect + z * se),
        "niveau_voor": before,
        "niveau_na": after,
        "n_maanden_voor": int(data.loc[treated.loc[data.index], "month"].lt(start_month).sum()),
        "n_maanden_na": int(data["treated_after"].sum()),
    }


def estimate_effects(
    interventions: pd.DataFrame, profile: pd.DataFrame, panel: pd.DataFrame, k: int, confidence: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per intervention and outcome a DiD against matched wijken; per type and outcome a stacked DiD."""
    usable = set(panel["reference_wijk_code"])
    ever_treated = set(interventions["reference_wijk_code"].dropna())
    candidates = usable - ever_treated
    first_year = int(profile["year"].min())
    rows, stacks = [], []
    for item in interventions.itertuples(index=False):
        start_month = pd.Timestamp(item.start_date).to_period("M").to_timestamp()
        match_year = max(first_year, item.startjaar - 1)
        peers, treated_profile = comparison_wijken(profile, item.reference_wijk_code, match_year, candidates, k)
        base = {
            "interventie_id": item.interventie_id,
            "gemeente_code": item.gemeente_code,
            "wijk_code": item.wijk_code,
            "reference_wijk_code": item.reference_wijk_code,
            "interventie_type": item.interventie_type,
            "startdatum": pd.Timestamp(item.start_date).date(),
            "startjaar": item.startjaar,
            "vergelijkingswijken": ",".join(peers),
            "n_vergelijkingswijken": len(peers),
            **{
                column: (treated_profile[column] if treated_profile is not None else np.nan)
                for column in FAMILY_CONTEXT
            },
        }
        for outcome, part in panel.groupby("uitkomst", sort=True):
            note = None
            if item.reference_wijk_code not in usable:
                note = "wijk heeft geen vergelijkbare reeks (gesplitst of niet in elk jaar)"
            elif not peers:
                note = "geen vergelijkingswijken met een risicoprofiel"
            result = None
            if note is None:
                units = [item.reference_wijk_code, *peers]
                data = part[part["reference_wijk_code"].isin(units)].assign(
                    unit=lambda f: f["reference_wijk_code"], period=lambda f: f["month"].dt.strftime("%Y-%m")
                )
                data = data.assign(cluster=data["unit"])
                treated = data["reference_wijk_code"] == item.reference_wijk_code
                result = did(data, treated, start_month, confidence, cluster=False)
                if result is None:
                    note = "geen maanden voor of na de start in de data"
                else:
                    stacks.append(
                        data.assign(
                            interventie_id=item.interventie_id,
                            interventie_type=item.interventie_type,
                            start_month=start_month,
                            is_treated=treated,
                        )
                    )
            rows.append({**base, "uitkomst": outcome, **(result or {}), "opmerking": note})
    effects = pd.DataFrame(rows)
    if len(effects):
        effects["significant"] = (effects["effect_ondergrens"] > 0) | (effects["effect_bovengrens"] < 0)
    by_type = pooled_effects(pd.concat(stacks, ignore_index=True), confidence) if stacks else pd.DataFrame()
    return effects, by_type


def pooled_effects(stacked: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Stacked DiD per intervention type and outcome (fixed effects per intervention × wijk and × month)."""
    rows = []
    for (kind, outcome), part in stacked.groupby(["interventie_type", "uitkomst"], sort=True):
        part = part[part["month"] != part["start_month"]].copy()
        after = part["month"] > part["start_month"]
        data = part.assign(
            unit=part["interventie_id"] + "|" + part["reference_wijk_code"],
            period=part["interventie_id"] + "|" + part["period"],
            cluster=part["reference_wijk_code"],
        )
        # did() splits on one start month; stacked rows carry their own, so mark them here
        data["treated_after"] = (data["is_treated"] & after).astype(float)
        model = smf.ols("rate ~ C(unit) + C(period) + treated_after", data=data)
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(data["cluster"])[0]})
        effect, se = float(fit.params["treated_after"]), float(fit.bse["treated_after"])
        z = norm.ppf(0.5 + confidence / 2.0)
        baseline = data.loc[data["treated_after"] == 1, "rate"].mean() - effect
        rows.append(
            {
                "interventie_type": kind,
                "uitkomst": outcome,
                "n_interventies": part["interventie_id"].nunique(),
                "effect": effect,
                "effect_ondergrens": effect - z * se,
                "effect_bovengrens": effect + z * se,
                "p_waarde": float(fit.pvalues["treated_after"]),
                "effect_relatief": effect / baseline,
                "effect_relatief_ondergrens": (effect - z * se) / baseline,
                "effect_relatief_bovengrens": (effect + z * se) / baseline,
                "significant": bool(effect - z * se > 0 or effect + z * se < 0),
            }
        )
    return pd.DataFrame(rows)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            analytics_key("intervention_effect"),
            description="Difference-in-differences effect of every intervention on Jeugd use per 1,000 "
            "inhabitants, against wijken matched on the risk profile (nearest neighbours).",
            deps=[
                mart_key("fct_intervention"),
                mart_key("fct_care_episode"),
                mart_key("fct_client_month"),
                mart_key("wijk_risicoprofiel"),
            ],
            kinds={"python", "duckdb"},
        ),
        dg.AssetSpec(
            analytics_key("intervention_effect_by_type"),
            description="Stacked difference-in-differences per intervention type (all interventions of a type pooled).",
            deps=[
                mart_key("fct_intervention"),
                mart_key("fct_care_episode"),
                mart_key("fct_client_month"),
                mart_key("wijk_risicoprofiel"),
            ],
            kinds={"python", "duckdb"},
        ),
    ],
    group_name="analytics",
)
def intervention_effect(context: dg.AssetExecutionContext):
    """Intervention effects (see the module docstring for the method and caveats)."""
    settings = get_settings()
    panel = outcome_panel(query(settings, PANEL_SQL))
    effects, by_type = estimate_effects(
        query(settings, INTERVENTIONS_SQL),
        risk_profile(settings),
        panel,
        settings.analytics_comparison_wijken,
        settings.analytics_confidence,
    )
    write_tables(settings, {"intervention_effect": effects, "intervention_effect_by_type": by_type})
    yield dg.MaterializeResult(asset_key=analytics_key("intervention_effect"), metadata=table_metadata(effects))
    yield dg.MaterializeResult(
        asset_key=analytics_key("intervention_effect_by_type"), metadata=table_metadata(by_type, preview_rows=20)
    )
