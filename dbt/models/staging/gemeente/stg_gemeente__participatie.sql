with

source as (

    select * from {{ source('gemeente', 'participatie') }}

),

renamed as (

    select
        -- keys
        gemeentecode as gemeente_code,
        cast(periode || '-01' as date) as month,
        uitkeringsnummer as uitkering_id,

        -- client (pseudonymised at ingestion)
        {{ gemeente_client_columns() }},

        -- benefit
        regeling,
        leefvorm,
        {{ gemeente_case_period_columns() }},
        cast(bedrag_uitkering as decimal(18, 2)) as bedrag,

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
