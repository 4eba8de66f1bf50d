with

source as (

    select * from {{ source('gemeente', 'jeugd') }}

),

renamed as (

    select
        -- keys
        gemeentecode as gemeente_code,
        cast(periode || '-01' as date) as month,
        trajectnummer as traject_id,

        -- client (pseudonymised at ingestion)
        {{ gemeente_client_columns() }},

        -- care
        verwijzer as verwijzer_code,
        productcategorie as productcategorie_code,
        productcode,
        agb_code,
        aanbieder as aanbieder_name,
        {{ gemeente_case_period_columns() }},
        doel_bereikt,

        -- volume and cost
        {{ care_volume_cost_columns() }},

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
