{{ config(alias='benchmark') }}

with

indicator_values as (

    select * from {{ source('analytics', 'benchmark_values') }}

),

peers as (

    select * from {{ source('analytics', 'benchmark_peers') }}

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

domain_flagged as (

    {{ with_cell_decision('domain_of', 'area_code', domein='domein', hidden_as='domein__hidden') }}

),

flagged as (

    {{ with_cell_decision('domain_flagged', 'area_code', domein=none, hidden_as='any_domein__hidden') }}

),

publishable as (

    select
        year,
        gemeente_code,
        area_level,
        area_code,
        indicator,
        case
            when not coalesce(basis >= {{ var('suppression_threshold') }}, false) then null
            when domein is not null and domein__hidden then null
            when indicator = 'kosten_sociaal_domein_per_inwoner' and any_domein__hidden then null
            -- the rate at the precision of the rounded counts: rate × inhabitants gives no exact count
            when domein is not null
                then {{ publish_rate('waarde', 'basis * 1000.0 / nullif(waarde, 0)', 1000) }}
            else waarde
        end as waarde
    from flagged

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
        -- one row of publishable per area, year and indicator: its gemeente and value as they are
        min(own.gemeente_code) as gemeente_code,
        min(own.waarde) as waarde,
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
        compared.year,
        compared.gemeente_code,
        areas.gemeente_name,
        compared.area_level,
        compared.area_code,
        areas.area_name,
        compared.indicator,
        indicators.indicator_label,
        indicators.unit_group as eenheid,
        compared.waarde,
        -- a mean of one or two peers would show a peer's value to whoever may not see it
        {{ publish_average('compared.peer_gemiddelde', 'compared.n_peers') }} as peer_gemiddelde,
        case when compared.waarde is not null then compared.positie end as positie,
        compared.n_peers
    from compared
    {{ join_area(none, 'compared.area_code', 'compared.year') }}
    left join indicators
        on compared.indicator = indicators.indicator_code

)

select * from final
