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
        bsn_pseudoniem as client_pseudonym,
        huishouden_pseudoniem as household_pseudonym,
        postcode4,
        buurt_code,
        wijk_code,
        cast(geboortejaar as integer) as birth_year,
        geslacht as sex,

        -- benefit
        regeling,
        leefvorm,
        cast(startdatum as date) as start_date,
        cast(einddatum as date) as end_date,
        reden_beeindiging,
        cast(bedrag_uitkering as decimal(18, 2)) as bedrag,

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
