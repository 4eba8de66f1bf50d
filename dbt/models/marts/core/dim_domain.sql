with

domains as (

    select
        'jeugd' as domain,
        'Jeugd' as domain_name,
        'Jeugdwet' as law,
        'Jeugdhulp, jeugdbescherming en jeugdreclassering' as description
    union all
    select
        'wmo' as domain,
        'Wmo' as domain_name,
        'Wet maatschappelijke ondersteuning 2015' as law,
        'Maatschappelijke ondersteuning: begeleiding, huishoudelijke hulp, hulpmiddelen, vervoer, '
        || 'beschermd wonen' as description
    union all
    select
        'participatie' as domain,
        'Participatie' as domain_name,
        'Participatiewet' as law,
        'Bijstand en re-integratie (Participatiewet, IOAW, IOAZ, Bbz)' as description

),

final as (

    select
        domain,
        domain_name,
        law,
        description
    from domains

)

select * from final
