with

-- one column per risk factor, in percent of inhabitants or households
pivoted as (

    {{ risk_factor_pivot('gemeente') }}

),

final as (

    select
        pivoted.year,
        pivoted.area_code as gemeente_code,
        gemeenten.area_name as gemeente_name,
        gemeenten.reference_area_code as reference_gemeente_code,
        {{ risk_factor_columns('pivoted') }}
        cast(pivoted.inwoners as integer) as inwoners
    from pivoted
    {{ join_area('gemeente', 'pivoted.area_code', 'pivoted.year') }}

)

select * from final
