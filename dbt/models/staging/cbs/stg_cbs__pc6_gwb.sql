with

source as (

    select * from {{ source('cbs', 'pc6_gwb') }}

),

renamed as (

    select
        -- keys
        postcode6,
        year,

        -- areas
        buurt_code,
        wijk_code,
        gemeente_code,

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
