{%- set factors = risk_factors() -%}

with

indicators as (

    select * from {{ ref('fct_area_indicator') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

-- one column per risk factor, in percent of inhabitants or households
pivoted as (

    select
        area_code,
        year,
        max(case when indicator_code = 'inwoners' then value end) as inwoners,
        {%- for column, (indicator, scale) in factors.items() %}
            max(
                case when indicator_code = '{{ indicator }}' then value * {{ scale }} end
            ) as {{ column }},
        {%- endfor %}
        count(*) as n_indicatoren
    from indicators
    where area_level = 'gemeente'
    group by area_code, year

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
