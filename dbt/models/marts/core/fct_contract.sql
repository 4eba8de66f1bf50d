with

contracten as (

    select * from {{ ref('stg_gemeente__contracten') }}

),

final as (

    select
        md5(
            contracten.gemeente_code || '|' || contracten.domain || '|' || contracten.agb_code || '|'
            || contracten.productcode || '|' || cast(contracten.start_date as varchar)
        ) as contract_key,
        contracten.gemeente_code,
        coalesce(gemeenten.reference_gemeente_code, contracten.gemeente_code) as reference_gemeente_code,
        contracten.year,
        contracten.domain,
        contracten.agb_code,
        contracten.domain || '|' || contracten.productcategorie_code as service_key,
        contracten.productcategorie_code,
        contracten.productcode,
        contracten.unit,
        contracten.tarief,
        contracten.start_date,
        contracten.end_date
    from contracten
    {{ join_area_of_year('gemeente', 'contracten') }}

)

select * from final
