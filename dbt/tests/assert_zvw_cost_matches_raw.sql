-- The Zvw cost of every year, summed over all categories, equals the raw Vektis delivery (to
-- within the rounding of amounts to cents in staging).
{%- set categories = vektis_cost_categories() %}

with

zvw_cost as (

    select * from {{ ref('fct_zvw_cost') }}

),

raw_zvw as (

    select * from {{ source('vektis', 'zvw_gemeente') }}

),

delivered as (

    select
        jaar as year,
        sum(
            {%- for category in categories %}
                coalesce(kosten_{{ category }}, 0){% if not loop.last %} +{% endif %}
            {%- endfor %}
        ) as cost
    from raw_zvw
    group by jaar

),

built as (

    select
        year,
        sum(coalesce(cost, 0)) as cost
    from zvw_cost
    group by year

)

select
    delivered.year,
    delivered.cost as raw_cost,
    built.cost as built_cost
from delivered
left join built
    on delivered.year = built.year
where built.year is null or abs(delivered.cost - built.cost) > 1 + 0.000001 * abs(delivered.cost)
