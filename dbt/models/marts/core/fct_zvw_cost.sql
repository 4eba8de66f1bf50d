{%- set categories = vektis_cost_categories() -%}

with

zvw as (

    select * from {{ ref('stg_vektis__zvw_gemeente') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

herindelingen as (

    select * from {{ ref('ref_herindelingen') }}

),

reference as (

    select max(reference_year) as reference_year from areas

),

-- mergers up to the reference year with one receiving gemeente (a split has no single successor)
successors as (

    select
        herindelingen.old_code,
        min(herindelingen.new_code) as new_code
    from herindelingen
    cross join reference
    where herindelingen.date <= {{ make_date('reference.reference_year', 1, 1) }}
    group by herindelingen.old_code
    having count(distinct herindelingen.new_code) = 1

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
        coalesce(
            areas.reference_gemeente_code, later.new_code, merged.new_code, zvw_long.gemeente_code
        ) as reference_gemeente_code,
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
    left join successors as merged
        on zvw_long.gemeente_code = merged.old_code
    left join successors as later
        on merged.new_code = later.old_code

)

select * from final
