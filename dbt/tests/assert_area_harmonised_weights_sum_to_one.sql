-- Every area code of every year is mapped to the reference division exactly once in total:
-- its weights add up to 1.
with

harmonised as (

    select * from {{ ref('int_area_harmonised') }}

),

totals as (

    select
        year,
        area_code,
        sum(weight) as total_weight
    from harmonised
    group by year, area_code

)

select *
from totals
where abs(total_weight - 1) > 0.000001
