with

kwb as (

    select * from {{ ref('stg_cbs__kwb') }}

),

final as (

    select
        kwb.year,
        wijken.gemeente_code,
        wijken.gemeente_name,
        wijken.area_code as wijk_code,
        wijken.area_name as wijk_name,
        kwb.inwoners,
        kwb.huishoudens,
        kwb.gemiddeld_inkomen,
        kwb.pct_huishoudens_laag_inkomen
    from kwb
    {{ join_area('wijk', 'kwb.area_code', 'kwb.year', join_type='inner') }}

)

select * from final
