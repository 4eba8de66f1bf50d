with

kwb as (

    select * from {{ ref('stg_cbs__kwb') }}

),

named as (

    select
        area_code,
        area_level,
        gemeente_code,
        gemeente_name,
        wijk_code,
        year,
        case area_level
            when 'gemeente' then gemeente_name
            when 'wijk' then 'Wijk ' || substr(area_code, 7, 2) || ' ' || gemeente_name
            else 'Buurt ' || substr(area_code, 7, 4) || ' ' || gemeente_name
        end as area_name,
        case
            when wijk_code is not null then 'Wijk ' || substr(wijk_code, 7, 2) || ' ' || gemeente_name
        end as wijk_name
    from kwb

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
    from named

)

select * from final
