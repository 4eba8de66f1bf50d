with

source as (

    select * from {{ source('gemeente', 'clientervaring') }}

),

renamed as (

    select
        -- keys
        gemeentecode as gemeente_code,
        jaar as year,
        respondent_id,
        vraag_code,

        -- link to care
        domein as domain,
        trajectnummer as traject_id,
        agb_code,

        -- answer
        vraag_tekst,
        antwoord,

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
