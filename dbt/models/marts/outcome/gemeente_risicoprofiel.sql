{%- set factors = risk_factors() -%}

with

areas as (

    select * from {{ ref('dim_area') }}

),

-- one column per risk factor, in percent of inhabitants or households
pivoted as (

    {{ risk_factor_pivot('gemeente') }}

),

final as (

    select
        pivoted.year,
        pivoted.area_code as gemeente_code,
        areas.area_name as gemeente_name,
        areas.reference_area_code as reference_gemeente_code,
        {%- for column in factors %}
            pivoted.{{ column }},
        {%- endfor %}
        cast(pivoted.inwoners as integer) as inwoners
    from pivoted
    left join areas
        on
            pivoted.area_code = areas.area_code
            and pivoted.year = areas.year

)

select * from final
