{{ config(alias='populatiebekostiging') }}

with

funding as (

    select * from {{ source('analytics', 'population_funding') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

cells as (

    select * from {{ ref('disclosure_cells') }}
    where area_level = 'wijk'

),

-- a wijk's realisation is hidden with its clients, as decided once for every table (disclosure_cells)
flagged as (

    select
        funding.*,
        coalesce(cells.hidden, true) as clienten__hidden
    from funding
    left join cells
        on
            funding.wijk_code = cells.area_code
            and funding.year = cells.year
            and funding.domein = cells.domein

),

final as (

    select
        ranked.year,
        ranked.gemeente_code,
        areas.gemeente_name,
        ranked.wijk_code,
        areas.area_name as wijk_name,
        ranked.domein,
        ranked.verwachte_behoefte_aandeel,
        ranked.behoefte_aandeel,
        ranked.inwoners_aandeel,
        {{ round_half_away('ranked.budget_gemeente') }} as budget_gemeente,
        {{ round_half_away('ranked.budget_toegewezen') }} as budget_toegewezen,
        {{ publish_with_base(round_half_away('ranked.werkelijke_kosten'), 'ranked.clienten') }}
            as werkelijke_kosten,
        {{ publish_with_base(round_half_away('ranked.verschuiving'), 'ranked.clienten') }} as verschuiving,
        ranked.scenario
    from flagged as ranked
    left join areas
        on
            ranked.wijk_code = areas.area_code
            and ranked.year = areas.year

)

select * from final
