"""Benchmarks: comparable gemeenten and wijken, and the key indicators to compare them on.

Method: per year and level (gemeente, wijk), every area gets its comparable peers: the
`analytics_comparison_gemeenten` / `analytics_comparison_wijken` nearest areas of the same
level by risk profile (scikit-learn `NearestNeighbors`, Euclidean on the risk factors of
`wijk_risicoprofiel` / `gemeente_risicoprofiel` standardised over all areas of that level and
year; the area itself excluded) — the same matching as the intervention effects. A second table
holds the key indicators per area and year with the count they rest on, so the serving model
(`serving_benchmark`) can compute the peer mean and the position among the peers over the
values that may be published, in SQL, after disclosure control.

Caveats: peers are comparable on the risk factors only (not on size or urbanity); areas with a
missing factor have no peers and are nobody's peer that year. A factor no area has in a year (a
topic that year's KWB does not publish) is left out of that year's matching.

Sources: the factors of `wijk_risicoprofiel` / `gemeente_risicoprofiel`, all from CBS Kerncijfers
wijken en buurten (table per year, 2019: 84583NED): pct_laag_inkomen HuishoudensMetEenLaagInkomen,
pct_huishoudens_met_kinderen HuishoudensMetKinderen / HuishoudensTotaal, pct_bijstand
PersonenPerSoortUitkeringBijstand, pct_werkloos PersonenPerSoortUitkeringWW, pct_65_plus
k_65JaarOfOuder (per inwoner, AantalInwoners); the models' YAML names the key of each year.
"""

import dagster as dg
import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from dagster_project.analytics.warehouse_tables import (
    NUMBER,
    RISK_FACTORS,
    TEXT,
    analysis_inputs,
    analytics_key,
    factors_in,
    kept,
    query,
    statistic,
    table_metadata,
    typed,
    write_tables,
)
from dagster_project.settings import get_settings

PROFILES_SQL = """
select 'wijk' as area_level, wijk_code as area_code, gemeente_code, year, {factors}
from marts_outcome.wijk_risicoprofiel
union all
select 'gemeente' as area_level, gemeente_code as area_code, gemeente_code, year, {factors}
from marts_outcome.gemeente_risicoprofiel
"""

# Key indicators per area and year, with the count each rests on (`basis`) for disclosure control.
VALUES_SQL = """
with profiles as (
    select 'wijk' as area_level, wijk_code as area_code, gemeente_code, year, inwoners,
        pct_laag_inkomen, pct_huishoudens_met_kinderen, pct_bijstand, pct_werkloos, pct_65_plus
    from marts_outcome.wijk_risicoprofiel
    union all
    select 'gemeente', gemeente_code, gemeente_code, year, inwoners,
        pct_laag_inkomen, pct_huishoudens_met_kinderen, pct_bijstand, pct_werkloos, pct_65_plus
    from marts_outcome.gemeente_risicoprofiel
),
use_by_area as (
    select area_level, area_code, year, domain, clients, cost
    from marts_core.fct_clients_area_year
    where area_level in ('wijk', 'gemeente') and area_code is not null
),
use_wide as (
    select
        area_level, area_code, year,
        sum(case when domain = 'jeugd' then clients else 0 end) as jeugd,
        sum(case when domain = 'wmo' then clients else 0 end) as wmo,
        sum(case when domain = 'participatie' then clients else 0 end) as participatie,
        sum(clients) as clients,
        sum(cost) as cost
    from use_by_area
    group by 1, 2, 3
),
resilience as (
    select 'wijk' as area_level, wijk_code as area_code, year, veerkracht_index
    from marts_outcome.wijk_veerkracht
),
wide as (
    select
        profiles.area_level, profiles.area_code, profiles.gemeente_code, profiles.year, profiles.inwoners,
        profiles.pct_laag_inkomen, profiles.pct_huishoudens_met_kinderen, profiles.pct_bijstand,
        profiles.pct_werkloos, profiles.pct_65_plus,
        resilience.veerkracht_index,
        coalesce(use_wide.jeugd, 0) as jeugd,
        coalesce(use_wide.wmo, 0) as wmo,
        coalesce(use_wide.participatie, 0) as participatie,
        coalesce(use_wide.clients, 0) as clients,
        coalesce(use_wide.cost, 0) as cost
    from profiles
    left join use_wide using (area_level, area_code, year)
    left join resilience using (area_level, area_code, year)
    where profiles.inwoners > 0
)
select area_level, area_code, gemeente_code, year, indicator, waarde, basis
from (
    select area_level, area_code, gemeente_code, year, 'pct_laag_inkomen' as indicator,
        pct_laag_inkomen as waarde, inwoners as basis from wide
    union all select area_level, area_code, gemeente_code, year, 'pct_huishoudens_met_kinderen',
        pct_huishoudens_met_kinderen, inwoners from wide
    union all select area_level, area_code, gemeente_code, year, 'pct_bijstand', pct_bijstand, inwoners from wide
    union all select area_level, area_code, gemeente_code, year, 'pct_werkloos', pct_werkloos, inwoners from wide
    union all select area_level, area_code, gemeente_code, year, 'pct_65_plus', pct_65_plus, inwoners from wide
    union all select area_level, area_code, gemeente_code, year, 'veerkracht_index', veerkracht_index, inwoners
        from wide where area_level = 'wijk'
    union all select area_level, area_code, gemeente_code, year, 'jeugd_clienten_per_1000',
        jeugd * 1000.0 / inwoners, jeugd from wide
    union all select area_level, area_code, gemeente_code, year, 'wmo_clienten_per_1000',
        wmo * 1000.0 / inwoners, wmo from wide
    union all select area_level, area_code, gemeente_code, year, 'participatie_clienten_per_1000',
        participatie * 1000.0 / inwoners, participatie from wide
    union all select area_level, area_code, gemeente_code, year, 'kosten_sociaal_domein_per_inwoner',
        cost / inwoners, clients from wide
) as indicators
where waarde is not null
order by area_level, area_code, year, indicator
"""

PEER_COLUMNS = {
    "year": "int64",
    **dict.fromkeys(["area_level", "area_code", "gemeente_code", "peer_code"], TEXT),
    "peer_rang": "int64",
    "afstand": NUMBER,
}


def find_peers(profiles: pd.DataFrame, k_by_level: dict[str, int]) -> pd.DataFrame:
    """The k nearest areas of the same level and year by standardised risk profile, the area itself excluded."""
    parts = []
    for (year, level), all_areas in profiles.groupby(["year", "area_level"], sort=True):
        factors = factors_in(all_areas)
        group = all_areas.dropna(subset=factors)
        if len(group) < 2 or not factors:
            continue
        features = StandardScaler().fit_transform(group[factors].to_numpy(dtype=float))
        k = min(k_by_level[level], len(group) - 1)
        distance, index = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
        own = np.arange(len(group))[:, None]
        # drop the area itself (normally column 0; with identical profiles it can be elsewhere)
        keep = index != own
        first_k = np.cumsum(keep, axis=1) <= k
        mask = keep & first_k
        rows_per_area = mask.sum(axis=1)
        codes = group["area_code"].to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "year": year,
                    "area_level": level,
                    "area_code": np.repeat(codes, rows_per_area),
                    "gemeente_code": np.repeat(group["gemeente_code"].to_numpy(), rows_per_area),
                    "peer_code": codes[index[mask]],
                    "peer_rang": (np.cumsum(mask, axis=1))[mask],
                    "afstand": distance[mask],
                }
            )
        )
    return typed(pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(), PEER_COLUMNS)


@dg.multi_asset(
    specs=[
        statistic(
            "benchmark_peers",
            "Comparable peers of every gemeente and wijk per year (nearest neighbours on risk profile).",
            ["wijk_risicoprofiel", "gemeente_risicoprofiel"],
        ),
        statistic(
            "benchmark_values",
            "Key indicators per gemeente and wijk per year, with the count each rests on.",
            ["wijk_risicoprofiel", "gemeente_risicoprofiel", "wijk_veerkracht", "fct_clients_area_year"],
        ),
    ],
    group_name="analytics",
)
def benchmark(context: dg.AssetExecutionContext):
    """Peers and key indicators for benchmarks (see the module docstring for the method and caveats)."""
    settings = get_settings()
    inputs = analysis_inputs(context, settings, __name__)
    if inputs.unchanged():
        yield from kept(context)
        return

    profiles = query(settings, PROFILES_SQL.format(factors=", ".join(RISK_FACTORS)))
    peers = find_peers(
        profiles, {"wijk": settings.analytics_comparison_wijken, "gemeente": settings.analytics_comparison_gemeenten}
    )
    values = query(settings, VALUES_SQL)
    write_tables(settings, {"benchmark_peers": peers, "benchmark_values": values})
    inputs.note()
    yield dg.MaterializeResult(asset_key=analytics_key("benchmark_peers"), metadata=table_metadata(peers))
    yield dg.MaterializeResult(asset_key=analytics_key("benchmark_values"), metadata=table_metadata(values))
