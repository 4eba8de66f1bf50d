with

indicators as (

    select * from {{ ref('ref_indicators') }}

),

-- the unit a dashboard formats the figure by: %, €, per 1.000, aantal or as it is
grouped as (

    select
        *,
        case
            when eenheid like 'procent%' then 'procent'
            when eenheid = 'euro' then 'euro'
            when eenheid like 'per 1000%' then 'per_1000'
            when eenheid = 'aantal' then 'aantal'
            else 'overig'
        end as unit_group
    from indicators

),

final as (

    select
        indicator_code,
        naam as indicator_name,
        naam || case unit_group
            when 'procent' then ' (%)'
            when 'euro' then ' (€)'
            when 'overig' then ' (' || eenheid || ')'
            else ''
        end as indicator_label,
        eenheid as unit,
        unit_group,
        bron as source,
        case
            when bron like 'cbs%' then 'cbs'
            when bron = 'vektis_zvw' then 'vektis'
            else 'gemeente'
        end as source_group,
        case
            when bron like '%+%' then '3d'
            when bron = 'gemeente_jeugd' then 'jeugd'
            when bron = 'gemeente_wmo' then 'wmo'
            when bron = 'gemeente_participatie' then 'participatie'
        end as domain,
        richting_is_risico as unfavourable_direction
    from grouped

)

select * from final
