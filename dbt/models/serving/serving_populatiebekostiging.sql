{{ config(alias='populatiebekostiging') }}

with

funding as (

    select * from {{ source('analytics', 'population_funding') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

-- a wijk's realisation is hidden with its clients; within a gemeente, domain and year never alone
flagged as (

    {{ disclosure_flags('funding', ['year', 'gemeente_code', 'domein'], ['wijk_code'], ['clienten']) }}

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
