with

interventies as (

    select * from {{ ref('stg_gemeente__interventies') }}

),

final as (

    select
        interventies.interventie_id,
        interventies.gemeente_code,
        interventies.wijk_code,
        coalesce(wijken.reference_gemeente_code, interventies.gemeente_code) as reference_gemeente_code,
        wijken.reference_area_code as reference_wijk_code,
        interventies.interventie_type,
        interventies.doelgroep,
        interventies.start_date,
        interventies.end_date,
        {{ period_key('interventies.start_date') }} as start_period_key,
        interventies.end_date is null as is_running
    from interventies
    {{ join_area_of_month('wijk', 'interventies', 'start_date') }}

)

select * from final
