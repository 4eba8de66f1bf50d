with

source as (

    select * from {{ source('cbs', 'wijk_zorg') }}

),

renamed as (

    select
        -- keys
        {{ cbs_area_keys() }},
        gemeentenaam as gemeente_name,

        -- youth care
        jongerenmetjeugdhulp as jongeren_met_jeugdhulp,
        jongerenmetjeugdhulprelatief as pct_jongeren_met_jeugdhulp,
        jeugdhulpmetverblijf as jeugdhulp_met_verblijf,

        -- social support
        wmoclienten as wmo_clienten,
        wmoclientenrelatief as wmo_clienten_per_1000,

        -- social assistance
        personenmetbijstand as personen_met_bijstand,
        personenmetbijstandrelatief as personen_met_bijstand_per_1000,

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
