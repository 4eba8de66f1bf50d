{{ config(alias='populatiebekostiging') }}

with

funding as (

    select * from {{ source('analytics', 'population_funding') }}

),

-- a wijk's realisation is hidden with its clients, as decided once for every table (disclosure_cells)
flagged as (

    {{ with_cell_decision('funding', 'wijk_code', 'wijk') }}

),

final as (

    select
        flagged.year,
        flagged.gemeente_code,
        wijken.gemeente_name,
        flagged.wijk_code,
        wijken.area_name as wijk_name,
        flagged.domein,
        flagged.verwachte_behoefte_aandeel,
        flagged.behoefte_aandeel,
        flagged.inwoners_aandeel,
        {{ round_half_away('flagged.budget_gemeente') }} as budget_gemeente,
        {{ round_half_away('flagged.budget_toegewezen') }} as budget_toegewezen,
        {{ publish_with_base(round_half_away('flagged.werkelijke_kosten'), 'flagged.clienten') }}
            as werkelijke_kosten,
        {{ publish_with_base(round_half_away('flagged.verschuiving'), 'flagged.clienten') }} as verschuiving,
        flagged.scenario
    from flagged
    {{ join_area_of_year('wijk', 'flagged') }}

)

select * from final
