with

source as (

    select * from {{ source('gemeente', 'wmo') }}

),

renamed as (

    select
        -- keys
        gemeentecode as gemeente_code,
        cast(periode || '-01' as date) as month,
        voorzieningnummer as voorziening_id,

        -- client (pseudonymised at ingestion)
        {{ gemeente_client_columns() }},

        -- care
        productcategorie as productcategorie_code,
        productcode,
        leveringsvorm,
        agb_code,
        aanbieder as aanbieder_name,
        {{ gemeente_case_period_columns() }},

        -- volume and cost
        {{ care_volume_cost_columns() }},

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
