with

source as (

    select * from {{ source('vektis', 'zvw_gemeente') }}

),

renamed as (

    select
        -- keys
        jaar as year,
        gemeentecode as gemeente_code,
        gemeentenaam as gemeente_name_vektis,
        geslacht as sex,
        leeftijdsklasse as age_class,

        -- insured
        cast(aantal_bsn as integer) as insured_persons,
        aantal_verzekerdejaren as insured_years,

        -- costs in euros
        {{ vektis_cost_columns() }},

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
