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

cells as (

    select * from {{ ref('disclosure_cells') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

-- clients per 1,000 rest on the client count of their area, year and domain; cost per inhabitant
-- on all three (the cost of a hidden domain would follow from it minus the published others)
domain_of as (

    select
        indicator_values.*,
        case indicator_values.indicator
            when 'jeugd_clienten_per_1000' then 'jeugd'
            when 'wmo_clienten_per_1000' then 'wmo'
            when 'participatie_clienten_per_1000' then 'participatie'
        end as domein
    from indicator_values

),

hidden_cells as (

    select
        area_level,
        area_code,
        year,
        domein,
        hidden
    from cells

),

any_domain_hidden as (

    select
        area_level,
        area_code,
        year,
        bool_or(hidden) as hidden
    from cells
    group by area_level, area_code, year

),

publishable as (

    select
        domain_of.year,
        domain_of.gemeente_code,
        domain_of.area_level,
        domain_of.area_code,
        domain_of.indicator,
        case
            when not coalesce(domain_of.basis >= {{ var('suppression_threshold') }}, false) then null
            when domain_of.domein is not null and coalesce(hidden_cells.hidden, true) then null
            when
                domain_of.indicator = 'kosten_sociaal_domein_per_inwoner'
                and coalesce(any_domain_hidden.hidden, true)
                then null
            -- the rate at the precision of the rounded counts: rate × inhabitants gives no exact count
            when domain_of.domein is not null
                then {{ publish_rate(
                    'domain_of.waarde',
                    'domain_of.basis * 1000.0 / nullif(domain_of.waarde, 0)',
                    1000,
                ) }}
            else domain_of.waarde
        end as waarde
    from domain_of
    left join hidden_cells
        on
            domain_of.area_level = hidden_cells.area_level
            and domain_of.area_code = hidden_cells.area_code
            and domain_of.year = hidden_cells.year
            and domain_of.domein = hidden_cells.domein
    left join any_domain_hidden
        on
            domain_of.area_level = any_domain_hidden.area_level
            and domain_of.area_code = any_domain_hidden.area_code
            and domain_of.year = any_domain_hidden.year

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
    where peer.waarde is not null

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
        own.waarde,
        -- a mean of one or two peers would show a peer's value to whoever may not see it
        {{ publish_average('compared.peer_gemiddelde', 'compared.n_peers') }} as peer_gemiddelde,
        case when own.waarde is not null then compared.positie end as positie,
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
