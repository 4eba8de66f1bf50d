with

source as (

    select * from {{ source('cbs', 'gebieden') }}

),

renamed as (

    select
        -- keys
        code as area_code,
        year,
        level as area_level,

        -- hierarchy
        gemeente_code,
        wijk_code,
        name as area_name,

        -- geometry
        geometry_type,
        geometry as geometry_geojson,

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
