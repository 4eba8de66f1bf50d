with

kwb as (

    select * from {{ ref('stg_cbs__kwb') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

final as (

    select
        kwb.year,
        areas.gemeente_code,
        areas.gemeente_name,
        areas.area_code as wijk_code,
        areas.area_name as wijk_name,
        kwb.inwoners,
        kwb.huishoudens,
        kwb.gemiddeld_inkomen,
        kwb.pct_huishoudens_laag_inkomen
    from kwb
    inner join areas
        on
            kwb.area_code = areas.area_code
            and kwb.year = areas.year
    where areas.area_level = 'wijk'

)

select * from final
