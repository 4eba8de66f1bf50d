with

source as (

    select * from {{ source('cbs', 'kwb') }}

),

renamed as (

    select
        -- keys
        {{ cbs_area_keys() }},
        case
            when soortregio = 'Buurt' then 'WK' || substr(wijkenenbuurten, 3, 6)
            when soortregio = 'Wijk' then wijkenenbuurten
        end as wijk_code,
        gemeentenaam as gemeente_name,

        -- population
        aantalinwoners as inwoners,
        k_0tot15jaar as inwoners_0_14,
        k_15tot25jaar as inwoners_15_24,
        k_25tot45jaar as inwoners_25_44,
        k_45tot65jaar as inwoners_45_64,
        k_65jaarofouder as inwoners_65_plus,

        -- households
        huishoudenstotaal as huishoudens,
        eenpersoonshuishoudens as huishoudens_eenpersoons,
        huishoudensmetkinderen as huishoudens_met_kinderen,

        -- income and benefits
        gemiddeldinkomenperinwoner as gemiddeld_inkomen,
        huishoudensmeteenlaaginkomen as pct_huishoudens_laag_inkomen,
        personenpersoortuitkeringbijstand as personen_bijstand,
        personenpersoortuitkeringww as personen_ww,

        -- care
        jongerenmetjeugdzorginnatura as jongeren_met_jeugdzorg,
        percentagejongerenmetjeugdzorg as pct_jongeren_met_jeugdzorg,
        wmoclienten as wmo_clienten,
        wmoclientenrelatief as wmo_clienten_per_1000,

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
