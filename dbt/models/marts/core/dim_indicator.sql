with

indicators as (

    select * from {{ ref('ref_indicators') }}

),

final as (

    select
        indicator_code,
        naam as indicator_name,
        eenheid as unit,
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
    from indicators

)

select * from final
