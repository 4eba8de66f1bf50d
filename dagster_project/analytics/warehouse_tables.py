"""Reading the marts and writing the `analytics` schema of the build warehouse.

Every analysis reads what dbt built (marts) with SQL, computes in pandas/statsmodels/
scikit-learn, and replaces its own tables in schema `analytics`; dbt's serving models read
those back as sources (`dbt/models/marts/outcome/_analytics__sources.yml`) and apply
disclosure control before anything reaches a dashboard.
"""

from collections.abc import Sequence

import dagster as dg
import numpy as np
import pandas as pd

from dagster_project.lib import asset_versions
from dagster_project.resources import warehouse_for
from dagster_project.settings import Settings

ANALYTICS_SCHEMA = "analytics"
PROFILE_TABLE = "marts_outcome.wijk_risicoprofiel"

#: The risk profile every model and match uses (columns of wijk_risicoprofiel, in percent). Age
#: structure enters as the share 65+; the share under 15 is nearly its mirror image (the age
#: bands add up to 100%), so both together make the models unstable, and Jeugd has the youth
#: population as its offset already.
RISK_FACTORS = [
    "pct_laag_inkomen",
    "pct_huishoudens_met_kinderen",
    "pct_bijstand",
    "pct_werkloos",
    "pct_65_plus",
]
DOMAINS = ["jeugd", "wmo", "participatie"]


def factors_in(frame: pd.DataFrame) -> list[str]:
    """The risk factors with a value for some area of `frame` (one year). A factor the year's KWB
    table does not publish (the share of low-income households from 2024 on) is left out of that
    year's models and matches instead of leaving every area without a result; the coefficient
    tables show which terms a year's model has."""
    return [factor for factor in RISK_FACTORS if frame[factor].notna().any()]


TEXT, NUMBER, WHOLE, DAY = "string", "float64", "Int64", "datetime64[s]"


def typed(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """`frame` with its text columns as text, and with every declared type when an analysis had
    nothing to fit (a warehouse without care records): a column of no values, or of only nulls,
    would be stored as INTEGER, and the serving models compare codes and multiply figures."""
    if frame.empty:
        return pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in columns.items()})
    return frame.astype({name: kind for name, kind in columns.items() if kind == TEXT})


#: Significant digits a model's estimates are written with. Their statistical uncertainty is far
#: larger, and the digits beyond differ with the processor (its BLAS kernels and SIMD width): the
#: same data would publish other figures on another machine (docs/architecture.md, "Statistics").
ESTIMATE_DIGITS = 4
#: Exact powers of ten (float64 of an integer is correctly rounded), so that rounding itself is
#: the same on every processor, where `10.0 ** k` and `log10` may take a vectorised approximation.
_POWERS_OF_TEN = np.array([float(10**k) for k in range(309)])


def significant(values: np.ndarray | pd.Series, digits: int = ESTIMATE_DIGITS) -> np.ndarray:
    """`values` rounded to `digits` significant digits (half to even), zero and non-finite as they are."""
    values = np.asarray(values, dtype=float)
    shown = np.isfinite(values) & (values != 0)
    exponent = np.floor(np.log10(np.abs(values, where=shown, out=np.ones_like(values)))).astype(int)
    shift = np.clip(digits - 1 - exponent, -308, 308)
    up, down = _POWERS_OF_TEN[np.maximum(shift, 0)], _POWERS_OF_TEN[np.maximum(-shift, 0)]
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = np.round(values * up / down) / up * down
    return np.where(shown & np.isfinite(rounded), rounded, values)


def estimates(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """`frame` with its estimated `columns` kept to `ESTIMATE_DIGITS` significant digits."""
    return frame.assign(**{column: significant(frame[column]) for column in columns})


def mart_key(model: str) -> dg.AssetKey:
    """The Dagster key of a dbt model under `marts/` (see dagster_project.dbt.MmrTranslator)."""
    return dg.AssetKey(["marts", model])


def analytics_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([ANALYTICS_SCHEMA, table])


def statistic(table: str, description: str, marts: list[str]) -> dg.AssetSpec:
    """The spec of a table in `analytics` computed in Python from the dbt models `marts`."""
    return dg.AssetSpec(
        analytics_key(table), description=description, deps=[mart_key(m) for m in marts], kinds={"python", "duckdb"}
    )


def query(settings: Settings, sql: str, params: Sequence | None = None) -> pd.DataFrame:
    """A query on the warehouse the models are built in."""
    return warehouse_for(settings).query(sql, params)


def write_tables(settings: Settings, tables: dict[str, pd.DataFrame], schema: str = ANALYTICS_SCHEMA) -> None:
    """Replace each table in `schema` of the warehouse the models are built in."""
    warehouse_for(settings).write_tables(tables, schema)


def risk_profile(settings: Settings) -> pd.DataFrame:
    """wijk_risicoprofiel: one row per wijk per year."""
    return query(settings, f"select * from {PROFILE_TABLE} order by year, wijk_code")


def table_metadata(frame: pd.DataFrame, preview_rows: int = 10) -> dict[str, dg.MetadataValue]:
    return {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "preview": dg.MetadataValue.md(frame.head(preview_rows).to_markdown(index=False)),
    }


def analysis_inputs(context: dg.AssetExecutionContext, settings: Settings, module: str) -> asset_versions.Inputs:
    """What the analysis of `module` computes from: its code and settings, and the marts and
    statistics its assets depend on (each reads only what it declares)."""
    deps = set().union(*context.assets_def.asset_deps.values())
    return asset_versions.inputs(
        warehouse_for(settings),
        modules=[module, __name__],
        writes=[".".join(key.path) for key in context.selected_asset_keys],
        models=[key.path[-1] for key in deps if key.path[0] == "marts"],
        tables=[".".join(key.path) for key in deps if key.path[0] == ANALYTICS_SCHEMA],
        settings={k: v for k, v in settings.model_dump().items() if k.startswith(("analytics_", "funding_"))},
    )


def kept(context: dg.AssetExecutionContext) -> list[dg.MaterializeResult]:
    """The results of an analysis whose inputs did not change since it wrote its tables."""
    context.log.info("Nothing it reads changed since it last ran: its tables are kept.")
    return [dg.MaterializeResult(asset_key=key, metadata={"kept": True}) for key in sorted(context.selected_asset_keys)]
