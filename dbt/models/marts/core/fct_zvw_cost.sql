{%- set categories = vektis_cost_categories() -%}

with

zvw as (

    select * from {{ ref('stg_vektis__zvw_gemeente') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

-- one row per gemeente, year, sex, age class and cost category (unpivoted)
zvw_long as (

    {%- for category in categories %}
        select
            year,
            gemeente_code,
            sex,
            age_class,
            insured_persons,
            insured_years,
            '{{ category }}' as cost_category,
            kosten_{{ category }} as cost
        from zvw
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

final as (

    select
        zvw_long.gemeente_code,
        coalesce(areas.reference_gemeente_code, zvw_long.gemeente_code) as reference_gemeente_code,
        zvw_long.year,
        cast(zvw_long.year as varchar) as period_key,
        zvw_long.sex,
        zvw_long.age_class,
        zvw_long.cost_category,
        zvw_long.insured_persons,
        zvw_long.insured_years,
        zvw_long.cost
    from zvw_long
    left join areas
        on
            zvw_long.gemeente_code = areas.area_code
            and zvw_long.year = areas.year

)

select * from final
