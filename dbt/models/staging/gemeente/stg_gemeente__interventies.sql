with

source as (

    select * from {{ source('gemeente', 'interventies') }}

),

renamed as (

    select
        -- keys
        interventie_id,
        gemeentecode as gemeente_code,
        wijkcode as wijk_code,

        -- intervention
        interventie_type,
        doelgroep,
        cast(startdatum as date) as start_date,
        cast(einddatum as date) as end_date,

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
