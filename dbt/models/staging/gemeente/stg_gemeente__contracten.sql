with

source as (

    select * from {{ source('gemeente', 'contracten') }}

),

renamed as (

    select
        -- keys
        gemeentecode as gemeente_code,
        jaar as year,
        domein as domain,
        agb_code,
        productcode,
        cast(ingangsdatum as date) as start_date,

        -- contract
        aanbieder as aanbieder_name,
        productcategorie as productcategorie_code,
        eenheid as unit,
        cast(tarief as decimal(18, 2)) as tarief,
        cast(einddatum as date) as end_date,

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
