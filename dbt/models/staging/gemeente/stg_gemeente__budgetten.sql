with

source as (

    select * from {{ source('gemeente', 'budgetten') }}

),

renamed as (

    select
        -- keys
        gemeentecode as gemeente_code,
        jaar as year,
        domein as domain,

        -- amounts
        cast(begroting_primair as decimal(18, 2)) as begroting_primair,
        cast(begroting_na_wijziging as decimal(18, 2)) as begroting_na_wijziging,

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
