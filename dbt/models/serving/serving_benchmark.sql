{{ config(alias='benchmark') }}

with

indicator_values as (

    select * from {{ source('analytics', 'benchmark_values') }}

),

peers as (

    select * from {{ source('analytics', 'benchmark_peers') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

-- a value is published only when the count it rests on is not suppressed
publishable as (

    select
        indicator_values.*,
        coalesce(indicator_values.basis >= {{ var('suppression_threshold') }}, false) as is_publishable
    from indicator_values

),

-- the published values of each area's peers
peer_values as (

    select
        peers.year,
        peers.area_level,
        peers.area_code,
        peer.indicator,
        peer.waarde
    from peers
    inner join publishable as peer
        on
            peers.year = peer.year
            and peers.area_level = peer.area_level
            and peers.peer_code = peer.area_code
    where peer.is_publishable

),

compared as (

    select
        own.year,
        own.area_level,
        own.area_code,
        own.indicator,
        avg(peer_values.waarde) as peer_gemiddelde,
        count(peer_values.waarde) as n_peers,
        1 + sum(case when peer_values.waarde > own.waarde then 1 else 0 end) as positie
    from publishable as own
    left join peer_values
        on
            own.year = peer_values.year
            and own.area_level = peer_values.area_level
            and own.area_code = peer_values.area_code
            and own.indicator = peer_values.indicator
    group by own.year, own.area_level, own.area_code, own.indicator

),

final as (

    select
        own.year,
        own.gemeente_code,
        areas.gemeente_name,
        own.area_level,
        own.area_code,
        areas.area_name,
        own.indicator,
        indicators.indicator_label,
        indicators.unit_group as eenheid,
        case when own.is_publishable then own.waarde end as waarde,
        compared.peer_gemiddelde,
        case when own.is_publishable then compared.positie end as positie,
        compared.n_peers
    from publishable as own
    inner join compared
        on
            own.year = compared.year
            and own.area_level = compared.area_level
            and own.area_code = compared.area_code
            and own.indicator = compared.indicator
    left join areas
        on
            own.area_code = areas.area_code
            and own.year = areas.year
    left join indicators
        on own.indicator = indicators.indicator_code

)

select * from final
