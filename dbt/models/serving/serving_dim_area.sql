{{ config(alias='dim_area') }}

with

areas as (

    select * from {{ ref('dim_area') }}

),

final as (

    select
        area_code,
        area_name,
        area_level,
        gemeente_code,
        gemeente_name,
        wijk_code,
        wijk_name,
        year
    from areas

)

select * from final
