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
        bsn_pseudoniem as client_pseudonym,
        huishouden_pseudoniem as household_pseudonym,
        postcode4,
        buurt_code,
        wijk_code,
        cast(geboortejaar as integer) as birth_year,
        geslacht as sex,

        -- care
        verwijzer as verwijzer_code,
        productcategorie as productcategorie_code,
        productcode,
        agb_code,
        aanbieder as aanbieder_name,
        cast(startdatum as date) as start_date,
        cast(einddatum as date) as end_date,
        reden_beeindiging,
        doel_bereikt,

        -- volume and cost
        eenheid as unit,
        cast(volume as decimal(18, 2)) as volume,
        cast(tarief as decimal(18, 2)) as tarief,
        cast(bedrag as decimal(18, 2)) as bedrag,

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
