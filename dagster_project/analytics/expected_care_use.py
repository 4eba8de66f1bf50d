"""Expected versus actual care use per wijk: where is use higher or lower than its risk profile predicts?

Method (per year, per domain Jeugd/Wmo/Participatie, fitted on every wijk in the warehouse):

* Clients (distinct persons with support in the year, `fct_clients_area_year`): a negative binomial
  GLM (NB2, log link) of the count on the wijk's risk factors (`wijk_risicoprofiel`, as
  fractions), with `log(population at risk)` as offset: inhabitants aged 0-14 for Jeugd, all
  inhabitants for Wmo and Participatie. The overdispersion `alpha` is estimated by maximum
  likelihood (statsmodels `NegativeBinomial`; at least 1e-6, the Poisson limit), then the GLM is
  fitted with that `alpha`.
* Cost (euros in the year): a Tweedie GLM (variance power 1.5, log link, same offset), which
  allows wijken without cost; the dispersion is Pearson's chi-square over the residual df.

Per wijk: expected = the fitted mean, actual, ratio = actual / expected. The interval of the
ratio is Wald on the log scale, `ratio * exp(±z * s)`, where `s² = Var(log Y) + se(log mu)²`
combines the variance the model allows a wijk around its expectation (`1/mu + alpha` for the
negative binomial, `phi * mu^(p-2)` for Tweedie) with the uncertainty of the expectation itself.
This is the funnel-plot rule: the signal is "hoger dan verwacht" when the lower bound is above
1, "lager dan verwacht" when the upper bound is below 1. An actual of 0 uses half a client (or
half the mean cost per client) in the log, so a small wijk without clients is not flagged by an
artefact. The coefficients (with standard errors and intervals) are stored too. Every fitted
figure is written to four significant digits, the same on every processor (`estimates`).

Caveats: the model explains use by the published risk factors only; a wijk "above expectation"
may have needs the factors miss, not only inefficient care. The fit includes the wijken it
judges, so a strong outlier pulls its own expectation up a little. Wijken with a missing risk
factor or no population get no expectation; a factor missing for every wijk of a year (a topic
that year's KWB does not publish) is left out of that year's models, which the coefficient table
shows. Clients without a known wijk are left out.
"""

import warnings

import dagster as dg
import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.stats import norm
from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning

from dagster_project.analytics.warehouse_tables import (
    DOMAINS,
    NUMBER,
    RISK_FACTORS,
    TEXT,
    analysis_inputs,
    analytics_key,
    estimates,
    factors_in,
    kept,
    query,
    risk_profile,
    significant,
    statistic,
    table_metadata,
    typed,
    write_tables,
)
from dagster_project.settings import get_settings

TWEEDIE_POWER = 1.5
#: Population at risk per domain (column of wijk_risicoprofiel), the offset of the models.
EXPOSURE = {"jeugd": "inwoners_jonger_dan_15", "wmo": "inwoners", "participatie": "inwoners"}
MEASURES = ["clienten", "kosten"]
#: The GLMs iterate until the coefficients stop moving, not the deviance: a fit stopped early
#: differs in the eighth digit between processors (the published figures are the same everywhere).
CONVERGED = {"tol": 1e-13, "tol_criterion": "params", "maxiter": 200}
#: An overdispersion below this is no overdispersion (the Poisson limit); its estimate there is
#: noise of the optimiser, which would otherwise reach the intervals.
POISSON_ALPHA = 1e-6
SIGNAL_ABOVE, SIGNAL_BELOW, SIGNAL_NONE = "hoger dan verwacht", "lager dan verwacht", "conform verwachting"
#: The tables' columns and types, for a warehouse without care records (nothing to fit).
EXPECTED_COLUMNS = {
    "year": "int64",
    **dict.fromkeys(["gemeente_code", "wijk_code", "domein", "maat"], TEXT),
    **dict.fromkeys(["populatie", "verwacht", "werkelijk", "ratio", "log_se", "interval_factor"], NUMBER),
    **dict.fromkeys(["ratio_ondergrens", "ratio_bovengrens"], NUMBER),
    "signaal": TEXT,
    "clienten": NUMBER,
}
#: The fitted columns of the coefficient table (its others are names and counts).
COEFFICIENT_ESTIMATES = ["coefficient", "std_error", "ondergrens", "bovengrens", "p_value", "deviance_explained"]
COEFFICIENT_COLUMNS = {
    "year": "int64",
    **dict.fromkeys(["domein", "maat", "term"], TEXT),
    **dict.fromkeys(["coefficient", "std_error", "ondergrens", "bovengrens", "p_value"], NUMBER),
    "family": TEXT,
    "n_wijken": "int64",
    "deviance_explained": NUMBER,
}


ACTUAL_SQL = """
select year, area_code as wijk_code, domain as domein, clients as clienten, cost as kosten
from marts_core.fct_clients_area_year
where area_level = 'wijk' and area_code is not null
"""


def wijk_use(profile: pd.DataFrame, actual: pd.DataFrame) -> pd.DataFrame:
    """Every wijk-year × domain with its risk profile, exposure and actual clients and cost (0 if none)."""
    grid = profile.merge(pd.DataFrame({"domein": DOMAINS}), how="cross")
    frame = grid.merge(actual, on=["year", "wijk_code", "domein"], how="left")
    frame[["clienten", "kosten"]] = frame[["clienten", "kosten"]].fillna(0)
    frame["exposure"] = np.select(
        [frame["domein"] == domain for domain in EXPOSURE],
        [frame[column].astype(float) for column in EXPOSURE.values()],
        default=np.nan,
    )
    return frame


def design(frame: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    return sm.add_constant(frame[factors].astype(float) / 100.0, has_constant="add")


def _negative_binomial_alpha(y: np.ndarray, x: pd.DataFrame, offset: np.ndarray) -> float:
    with warnings.catch_warnings():
        # only alpha is kept from this fit; the GLM below gives the coefficients and their errors
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", HessianInversionWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            fit = sm.NegativeBinomial(y, x, offset=offset, loglike_method="nb2").fit(disp=0, maxiter=300)
            alpha = float(fit.params.iloc[-1])
        except (np.linalg.LinAlgError, ValueError):
            alpha = float("nan")
    return alpha if np.isfinite(alpha) and alpha > POISSON_ALPHA else POISSON_ALPHA


def fit_measure(
    frame: pd.DataFrame, measure: str, confidence: float, factors: list[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit one (year, domain, measure) model on `factors` (default: every risk factor); return
    per-wijk expectations and the coefficient table."""
    factors = RISK_FACTORS if factors is None else factors
    data = frame.dropna(subset=[*factors, "exposure"])
    data = data[data["exposure"] > 0]
    x = design(data, factors)
    offset = np.log(data["exposure"].to_numpy(dtype=float))
    y = data[measure].to_numpy(dtype=float)
    if measure == "clienten":
        alpha = _negative_binomial_alpha(y, x, offset)
        family, dispersion_name = sm.families.NegativeBinomial(alpha=alpha), "alpha"
        result = sm.GLM(y, x, family=family, offset=offset).fit(**CONVERGED)
        dispersion = alpha
    else:
        family = sm.families.Tweedie(var_power=TWEEDIE_POWER, link=sm.families.links.Log())
        result = sm.GLM(y, x, family=family, offset=offset).fit(scale="X2", **CONVERGED)
        dispersion, dispersion_name = float(result.scale), "phi"
    linear = result.get_prediction(x, offset=offset, which="linear")
    mu = np.exp(linear.predicted)
    if measure == "clienten":
        var_log_y = 1.0 / mu + dispersion
        floor = 0.5
    else:
        var_log_y = dispersion * mu ** (TWEEDIE_POWER - 2.0)
        per_client = data["kosten"].sum() / max(data["clienten"].sum(), 1.0)
        floor = 0.5 * per_client
    s = np.sqrt(var_log_y + linear.se**2)
    z = norm.ppf(0.5 + confidence / 2.0)
    centre = np.maximum(y, floor) / mu
    lower, upper = significant(centre * np.exp(-z * s)), significant(centre * np.exp(z * s))
    signal = np.where(lower > 1.0, SIGNAL_ABOVE, np.where(upper < 1.0, SIGNAL_BELOW, SIGNAL_NONE))
    rows = pd.DataFrame(
        {
            "year": data["year"].to_numpy(),
            "gemeente_code": data["gemeente_code"].to_numpy(),
            "wijk_code": data["wijk_code"].to_numpy(),
            "domein": data["domein"].to_numpy(),
            "maat": measure,
            "populatie": data["exposure"].to_numpy(),
            "verwacht": significant(mu),
            "werkelijk": y,
            "ratio": significant(y / mu),
            "log_se": significant(s),
            "interval_factor": significant(np.exp(z * s)),
            "ratio_ondergrens": lower,
            "ratio_bovengrens": upper,
            "signaal": signal,
            "clienten": data["clienten"].to_numpy(),
        }
    )
    ci = result.conf_int(alpha=1.0 - confidence)
    coefficients = pd.DataFrame(
        {
            "term": list(result.params.index) + [dispersion_name],
            "coefficient": list(result.params.to_numpy()) + [dispersion],
            "std_error": list(result.bse.to_numpy()) + [np.nan],
            "ondergrens": list(ci.iloc[:, 0].to_numpy()) + [np.nan],
            "bovengrens": list(ci.iloc[:, 1].to_numpy()) + [np.nan],
            "p_value": list(result.pvalues.to_numpy()) + [np.nan],
        }
    ).assign(
        family="negative binomial (NB2)" if measure == "clienten" else f"Tweedie (p={TWEEDIE_POWER})",
        n_wijken=len(data),
        deviance_explained=1.0 - result.deviance / result.null_deviance if result.null_deviance else np.nan,
    )
    return rows, estimates(coefficients, COEFFICIENT_ESTIMATES)


def expected_vs_actual(frame: pd.DataFrame, confidence: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit every (year, domain, measure); one table of expectations, one of coefficients."""
    rows, coefficients = [], []
    for (year, domain), part in frame.groupby(["year", "domein"], sort=True):
        factors = factors_in(part)
        for measure in MEASURES:
            if not factors or part[measure].sum() <= 0 or part[factors].dropna().shape[0] <= len(factors) + 2:
                continue
            expected, coefs = fit_measure(part, measure, confidence, factors)
            rows.append(expected)
            coefficients.append(coefs.assign(year=year, domein=domain, maat=measure))
    expected = typed(pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(), EXPECTED_COLUMNS)
    coefs = typed(pd.concat(coefficients, ignore_index=True) if coefficients else pd.DataFrame(), COEFFICIENT_COLUMNS)
    if len(coefs):
        coefs = coefs[["year", "domein", "maat", *[c for c in coefs.columns if c not in ("year", "domein", "maat")]]]
    return expected, coefs


@dg.multi_asset(
    specs=[
        statistic(
            "expected_care_use",
            "Expected and actual clients and cost per wijk, year and domain, with ratio, interval "
            "and signal (negative binomial / Tweedie GLM on the risk profile, fitted per year).",
            ["wijk_risicoprofiel", "fct_clients_area_year"],
        ),
        statistic(
            "expected_care_use_coefficients",
            "Coefficients of the expected-care-use models: one row per year, domain, measure and term.",
            ["wijk_risicoprofiel", "fct_clients_area_year"],
        ),
    ],
    group_name="analytics",
)
def expected_care_use_models(context: dg.AssetExecutionContext):
    """Expected vs actual use per wijk (see the module docstring for the method and caveats)."""
    settings = get_settings()
    inputs = analysis_inputs(context, settings, __name__)
    if inputs.unchanged():
        yield from kept(context)
        return

    frame = wijk_use(risk_profile(settings), query(settings, ACTUAL_SQL))
    expected, coefficients = expected_vs_actual(frame, settings.analytics_confidence)
    write_tables(settings, {"expected_care_use": expected, "expected_care_use_coefficients": coefficients})
    inputs.note()
    signals = expected.groupby(["domein", "maat", "signaal"]).size().rename("wijken").reset_index()
    latest = coefficients[coefficients["year"] == coefficients["year"].max()] if len(coefficients) else coefficients
    yield dg.MaterializeResult(
        asset_key=analytics_key("expected_care_use"),
        metadata={**table_metadata(expected), "signals": dg.MetadataValue.md(signals.to_markdown(index=False))},
    )
    yield dg.MaterializeResult(
        asset_key=analytics_key("expected_care_use_coefficients"),
        metadata={
            **table_metadata(coefficients),
            "coefficients_latest_year": dg.MetadataValue.md(
                latest[["domein", "maat", "term", "coefficient", "std_error", "p_value"]].to_markdown(index=False)
            ),
        },
    )
