{%- set factors = risk_factors() -%}

with

kerncijfers as (

    select * from {{ ref('wijk_kerncijfers') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

-- one column per risk factor, in percent of inhabitants or households
pivoted as (

    {{ risk_factor_pivot('wijk') }}

),

final as (

    select
        kerncijfers.year,
        kerncijfers.gemeente_code,
        kerncijfers.gemeente_name,
        kerncijfers.wijk_code,
        kerncijfers.wijk_name,
        areas.reference_area_code as reference_wijk_code,
        areas.reference_gemeente_code,
        areas.n_reference_areas,
        kerncijfers.inwoners,
        kerncijfers.huishoudens,
        {%- for column in factors %}
            pivoted.{{ column }},
        {%- endfor %}
        cast(
            {{ round_half_away('pivoted.pct_jonger_dan_15 * kerncijfers.inwoners / 100.0') }} as integer
        ) as inwoners_jonger_dan_15
    from kerncijfers
    left join pivoted
        on
            kerncijfers.wijk_code = pivoted.area_code
            and kerncijfers.year = pivoted.year
    left join areas
        on
            kerncijfers.wijk_code = areas.area_code
            and kerncijfers.year = areas.year

)

select * from final
