{#- cost category: its column -#}
{%- set costs = {} -%}
{%- for category in vektis_cost_categories() -%}
    {%- do costs.update({category: 'kosten_' ~ category}) -%}
{%- endfor -%}

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

    {{ unpivot(
        'zvw',
        ['year', 'gemeente_code', 'sex', 'age_class', 'insured_persons', 'insured_years'],
        costs, 'cost_category', 'cost',
    ) }}

),

final as (

    select
        zvw_long.gemeente_code,
        coalesce(
            gemeenten.reference_gemeente_code, later.new_code, merged.new_code, zvw_long.gemeente_code
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
    {{ join_area_of_year('gemeente', 'zvw_long') }}
    left join successors as merged
        on zvw_long.gemeente_code = merged.old_code
    left join successors as later
        on merged.new_code = later.old_code

)

select * from final
