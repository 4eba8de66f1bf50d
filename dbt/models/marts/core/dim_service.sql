with

ijw as (

    select * from {{ ref('ref_ijw_productcategorie') }}

),

iwmo as (

    select * from {{ ref('ref_iwmo_productcategorie') }}

),

participatie as (

    select * from {{ ref('stg_gemeente__participatie') }}

),

jeugd_services as (

    select
        'jeugd' as domain,
        'Jeugdwet' as law,
        code as productcategorie_code,
        omschrijving as productcategorie_name,
        met_verblijf = 'ja' as is_with_residence,
        {{ make_date('in_gebruik_vanaf', 1, 1) }} as valid_from,
        cast(null as date) as valid_to
    from ijw

),

wmo_services as (

    select
        'wmo' as domain,
        'Wet maatschappelijke ondersteuning 2015' as law,
        code as productcategorie_code,
        omschrijving as productcategorie_name,
        cast(null as boolean) as is_with_residence,
        ingangsdatum as valid_from,
        expiratiedatum as valid_to
    from iwmo

),

-- Participatie has no product list: the scheme (regeling) a benefit is paid under plays its part
participatie_services as (

    select
        'participatie' as domain,
        regeling as law,
        regeling as productcategorie_code,
        regeling as productcategorie_name,
        cast(null as boolean) as is_with_residence,
        cast(null as date) as valid_from,
        cast(null as date) as valid_to
    from (
        select 'Participatiewet' as regeling
        union all
        select 'IOAW' as regeling
        union all
        select 'IOAZ' as regeling
        union all
        select 'Bbz' as regeling
        union
        select distinct participatie.regeling from participatie
    ) as regelingen

),

services as (

    select * from jeugd_services
    union all
    select * from wmo_services
    union all
    select * from participatie_services

),

final as (

    select
        domain || '|' || productcategorie_code as service_key,
        domain,
        law,
        productcategorie_code,
        productcategorie_name,
        is_with_residence,
        valid_from,
        valid_to
    from services

)

select * from final
