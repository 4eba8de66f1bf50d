{{ config(alias='budget_realisatie') }}

with

budget as (

    select * from {{ ref('budget_realisatie') }}

),

-- the domains add up to the gemeente's social-domain spend, which is published (zvw_context):
-- decided with the wijken of each domain, once for every table (disclosure_cells)
flagged as (

    {{ with_cell_decision('budget', 'gemeente_code', 'gemeente') }}

),

final as (

    select
        year,
        gemeente_code,
        gemeente_name,
        domein,
        round(begroting_primair, 0) as begroting_primair,
        round(budget, 0) as budget,
        {{ publish_with_base('round(realisatie, 0)', 'clienten') }} as realisatie,
        {{ publish_with_base('round(verschil, 0)', 'clienten') }} as verschil,
        {{ publish_with_base('realisatie_pct', 'clienten') }} as realisatie_pct,
        {{ publish_count('clienten') }} as clienten
    from flagged

)

select * from final
