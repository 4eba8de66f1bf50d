with

source as (

    select * from {{ source('vektis', 'zvw_postcode3') }}

),

renamed as (

    select
        -- keys
        jaar as year,
        postcode_3 as postcode3,
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
