"""Effects of interventions: difference-in-differences against comparable wijken.

Method, per intervention in the register (`fct_intervention`):

* Panel: wijken on the reference division (`reference_wijk_code`), so a wijk keeps one
  identity through a merger; only wijken that map one-to-one in every year are used (a wijk
  that was split has no comparable series). Months are the months of the municipal exports.
* Outcome per wijk and month: `nieuwe jeugdhulptrajecten per 1.000 inwoners per jaar` — first
  Jeugd trajectories (a client without a Jeugd trajectory that ended less than 12 months
  before), annualised, per 1,000 inhabitants (KWB, of the year). The inflow is what a
  preventive intervention changes; the monthly number of clients is a stock carried over from
  month to month, whose serial correlation would make monthly standard errors far too small.
* Comparison wijken: the `analytics_comparison_wijken` nearest wijken (scikit-learn
  `NearestNeighbors`, Euclidean on the risk factors standardised over all wijken of the year)
  by their risk profile in the year before the start, among wijken without any intervention.
* Estimate: OLS `rate ~ wijk + month + treated × after` (statsmodels, wijk and month fixed
  effects, heteroskedasticity-robust HC1 standard errors; the start month itself is left out
  as partly treated). Standard errors clustered by wijk would rest on a single treated
  cluster, which makes them unreliable (far too small), so they are not used. `effect` is the
  change in the rate caused by the intervention; the relative effect divides it by the
  counterfactual level after the start (the treated wijk's mean after the start minus the
  effect), so `1 + effect_relatief` estimates the multiplier on new trajectories.
* Per intervention type, the estimates of its interventions are pooled by a fixed-effect
  (inverse-variance) meta-analysis (statsmodels `combine_effects`): one common effect per type.

Caveats: one treated wijk gives a wide interval, especially with few months after the start;
the comparison assumes parallel trends of the matched wijken (compare `niveau_voor`); pooled
interventions share comparison wijken, so the pooled interval is a little optimistic. The first
months of the exports cannot tell a first trajectory from a re-entry after a trajectory that
ended before the exports began; the month fixed effects absorb this for all wijken alike.
"""

import warnings

import dagster as dg
import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.stats import norm
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler
from statsmodels.stats.meta_analysis import combine_effects

from dagster_project.analytics.warehouse_tables import (
    DAY,
    NUMBER,
    TEXT,
    WHOLE,
    analysis_inputs,
    analytics_key,
    estimates,
    factors_in,
    kept,
    query,
    risk_profile,
    statistic,
    table_metadata,
    typed,
    write_tables,
)
from dagster_project.settings import get_settings

MARTS = ["fct_intervention", "fct_care_episode", "fct_client_month", "wijk_risicoprofiel"]
OUTCOME_NEW = "nieuwe jeugdhulptrajecten per 1.000 inwoners per jaar"
FAMILY_CONTEXT = ["pct_huishoudens_met_kinderen", "pct_laag_inkomen", "pct_bijstand"]
ESTIMATE_COLUMNS = [
    "effect",
    "effect_ondergrens",
    "effect_bovengrens",
    "standaardfout",
    "p_waarde",
    "effect_relatief",
    "effect_relatief_ondergrens",
    "effect_relatief_bovengrens",
    "niveau_voor",
    "niveau_na",
]
EFFECT_COLUMNS = {
    **dict.fromkeys(["interventie_id", "gemeente_code", "wijk_code", "reference_wijk_code", "interventie_type"], TEXT),
    "startdatum": DAY,
    "startjaar": WHOLE,
    "vergelijkingswijken": TEXT,
    "n_vergelijkingswijken": WHOLE,
    **dict.fromkeys(FAMILY_CONTEXT, NUMBER),
    "uitkomst": TEXT,
    **dict.fromkeys(ESTIMATE_COLUMNS, NUMBER),
    "n_maanden_voor": WHOLE,
    "n_maanden_na": WHOLE,
    "opmerking": TEXT,
}
BY_TYPE_COLUMNS = {
    "interventie_type": TEXT,
    "uitkomst": TEXT,
    "n_interventies": WHOLE,
    **dict.fromkeys(["effect", "effect_ondergrens", "effect_bovengrens"], NUMBER),
    **dict.fromkeys(["effect_relatief", "effect_relatief_ondergrens", "effect_relatief_bovengrens"], NUMBER),
    "p_waarde": NUMBER,
    "significant": "boolean",
}

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
    where previous_end is null or previous_end < start_date - interval '365 days'
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
    coalesce(new_trajectories.n, 0) as new_trajectories
from grid
left join new_trajectories
    on grid.reference_wijk_code = new_trajectories.reference_wijk_code
    and grid.month = new_trajectories.month
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
    return new[["reference_wijk_code", "month", "uitkomst", "rate"]]


class WijkMatcher:
    """The nearest comparison wijken by risk profile in one year, standardised over all wijken of
    that year: the scaler and the neighbours among `candidates` are fitted once per year, not once
    per intervention."""

    def __init__(self, profile: pd.DataFrame, year: int, candidates: set[str], k: int) -> None:
        year_rows = profile[profile["year"] == year]
        self.factors = factors_in(year_rows)
        self.rows = year_rows.dropna(subset=self.factors).drop_duplicates("reference_wijk_code")
        self.pool = self.rows[self.rows["reference_wijk_code"].isin(candidates)]
        self.nn = None
        if not self.pool.empty and self.factors:
            self.scaler = StandardScaler().fit(self.rows[self.factors].to_numpy(dtype=float))
            pool = self.scaler.transform(self.pool[self.factors].to_numpy(float))
            self.nn = NearestNeighbors(n_neighbors=min(k, len(self.pool))).fit(pool)

    def match(self, treated_code: str) -> tuple[list[str], pd.Series | None]:
        """The wijken nearest to the treated wijk, and its own profile row."""
        treated = self.rows[self.rows["reference_wijk_code"] == treated_code]
        if treated.empty or self.nn is None:
            return [], None
        _, index = self.nn.kneighbors(self.scaler.transform(treated[self.factors].to_numpy(float)))
        return self.pool["reference_wijk_code"].iloc[index[0]].tolist(), treated.iloc[0]


def fixed_effects_design(data: pd.DataFrame) -> np.ndarray:
    """The design of `rate ~ C(unit) + C(period) + treated_after`: an intercept, a dummy per unit and
    per period but the first (levels sorted, as the formula codes them), and `treated_after` last:
    the formula's matrix, made without parsing a formula for every fit (a third of the fits' time)."""
    unit = pd.get_dummies(data["unit"], drop_first=True, dtype=float).to_numpy()
    period = pd.get_dummies(data["period"], drop_first=True, dtype=float).to_numpy()
    return np.column_stack([np.ones(len(data)), unit, period, data["treated_after"].to_numpy(float)])


def did(panel: pd.DataFrame, treated: pd.Series, start_month: pd.Timestamp, confidence: float) -> dict | None:
    """OLS with unit and month fixed effects and HC1 errors; `treated` marks the treated wijk's rows."""
    data = panel[panel["month"] != start_month].copy()
    data["treated_after"] = (treated.loc[data.index] & (data["month"] > start_month)).astype(float)
    if data["treated_after"].sum() == 0 or (treated.loc[data.index] & (data["month"] < start_month)).sum() == 0:
        return None
    fit = sm.OLS(data["rate"].to_numpy(float), fixed_effects_design(data)).fit(cov_type="HC1")
    effect = float(fit.params[-1])
    se = float(fit.bse[-1])
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
        "p_waarde": float(fit.pvalues[-1]),
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
    """Per intervention and outcome a DiD against matched wijken; per type and outcome the pooled effect."""
    usable = set(panel["reference_wijk_code"])
    candidates = usable - set(interventions["reference_wijk_code"].dropna())
    first_year = int(profile["year"].min())
    matchers: dict[int, WijkMatcher] = {}
    series = {
        outcome: dict(tuple(part.groupby("reference_wijk_code", sort=False)))
        for outcome, part in panel.groupby("uitkomst", sort=True)
    }
    rows = []
    for item in interventions.itertuples(index=False):
        start_month = pd.Timestamp(item.start_date).to_period("M").to_timestamp()
        match_year = max(first_year, item.startjaar - 1)
        if match_year not in matchers:
            matchers[match_year] = WijkMatcher(profile, match_year, candidates, k)
        peers, treated_profile = matchers[match_year].match(item.reference_wijk_code)
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
            **{c: (treated_profile[c] if treated_profile is not None else np.nan) for c in FAMILY_CONTEXT},
        }
        for outcome, by_wijk in series.items():
            result, note = None, None
            if item.reference_wijk_code not in usable:
                note = "wijk heeft geen vergelijkbare reeks (gesplitst of niet in elk jaar)"
            elif not peers:
                note = "geen vergelijkingswijken met een risicoprofiel"
            else:
                frames = [by_wijk[code] for code in (item.reference_wijk_code, *peers) if code in by_wijk]
                if frames:
                    data = pd.concat(frames)
                    data = data.assign(unit=data["reference_wijk_code"], period=data["month"].dt.strftime("%Y-%m"))
                    treated = data["reference_wijk_code"] == item.reference_wijk_code
                    result = did(data, treated, start_month, confidence)
                note = None if result else "geen maanden voor of na de start in de data"
            rows.append({**base, "uitkomst": outcome, **(result or {}), "opmerking": note})
    effects = estimates(typed(pd.DataFrame(rows, columns=list(EFFECT_COLUMNS)), EFFECT_COLUMNS), ESTIMATE_COLUMNS)
    effects["significant"] = (effects["effect_ondergrens"] > 0) | (effects["effect_bovengrens"] < 0)
    return effects, pooled_effects(effects, confidence)


def pooled_effects(effects: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Per intervention type and outcome: fixed-effect (inverse-variance) meta-analysis of the estimates."""
    rows = []
    estimated = effects.dropna(subset=["effect", "standaardfout"])
    estimated = estimated[estimated["standaardfout"] > 0]
    for (kind, outcome), part in estimated.groupby(["interventie_type", "uitkomst"], sort=True):
        row = {"interventie_type": kind, "uitkomst": outcome, "n_interventies": len(part)}
        for prefix, values, se in (
            ("effect", part["effect"], part["standaardfout"]),
            (
                "effect_relatief",
                part["effect_relatief"],
                part["standaardfout"] * part["effect_relatief"] / part["effect"],
            ),
        ):
            usable = values.notna() & se.notna() & (se.abs() > 0)
            with warnings.catch_warnings():
                # heterogeneity statistics divide by k - 1: undefined (and unused) for a single intervention
                warnings.simplefilter("ignore", RuntimeWarning)
                combined = (
                    combine_effects(
                        values[usable].to_numpy(float), se[usable].abs().to_numpy(float) ** 2, alpha=1.0 - confidence
                    )
                    .summary_frame()
                    .loc["fixed effect"]
                )
            row[prefix] = combined["eff"]
            row[f"{prefix}_ondergrens"] = combined["ci_low"]
            row[f"{prefix}_bovengrens"] = combined["ci_upp"]
        z_value = row["effect"] / (row["effect_bovengrens"] - row["effect"]) * norm.ppf(0.5 + confidence / 2.0)
        row["p_waarde"] = float(2 * norm.sf(abs(z_value)))
        rows.append(row)
    pooled = typed(pd.DataFrame(rows, columns=list(BY_TYPE_COLUMNS)), BY_TYPE_COLUMNS)
    pooled = estimates(pooled, [c for c, kind in BY_TYPE_COLUMNS.items() if kind == NUMBER])
    return pooled.assign(significant=(pooled["effect_ondergrens"] > 0) | (pooled["effect_bovengrens"] < 0))


@dg.multi_asset(
    specs=[
        statistic(
            "intervention_effect",
            "Difference-in-differences effect of every intervention on Jeugd use per 1,000 "
            "inhabitants, against wijken matched on the risk profile (nearest neighbours).",
            MARTS,
        ),
        statistic(
            "intervention_effect_by_type",
            "Stacked difference-in-differences per intervention type (all interventions of a type pooled).",
            MARTS,
        ),
    ],
    group_name="analytics",
)
def intervention_effect(context: dg.AssetExecutionContext):
    """Intervention effects (see the module docstring for the method and caveats)."""
    settings = get_settings()
    inputs = analysis_inputs(context, settings, __name__)
    if inputs.unchanged():
        yield from kept(context)
        return

    panel = outcome_panel(query(settings, PANEL_SQL))
    effects, by_type = estimate_effects(
        query(settings, INTERVENTIONS_SQL),
        risk_profile(settings),
        panel,
        settings.analytics_comparison_wijken,
        settings.analytics_confidence,
    )
    write_tables(settings, {"intervention_effect": effects, "intervention_effect_by_type": by_type})
    inputs.note()
    yield dg.MaterializeResult(asset_key=analytics_key("intervention_effect"), metadata=table_metadata(effects))
    yield dg.MaterializeResult(
        asset_key=analytics_key("intervention_effect_by_type"), metadata=table_metadata(by_type, preview_rows=20)
    )
