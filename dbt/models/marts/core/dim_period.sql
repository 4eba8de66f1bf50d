with recursive

kwb as (

    select * from {{ ref('stg_cbs__kwb') }}

),

jeugd as (

    select * from {{ ref('stg_gemeente__jeugd') }}

),

wmo as (

    select * from {{ ref('stg_gemeente__wmo') }}

),

participatie as (

    select * from {{ ref('stg_gemeente__participatie') }}

),

zvw_gemeente as (

    select * from {{ ref('stg_vektis__zvw_gemeente') }}

),

zvw_postcode3 as (

    select * from {{ ref('stg_vektis__zvw_postcode3') }}

),

budgetten as (

    select * from {{ ref('stg_gemeente__budgetten') }}

),

clientervaring as (

    select * from {{ ref('stg_gemeente__clientervaring') }}

),

interventies as (

    select * from {{ ref('stg_gemeente__interventies') }}

),

-- the first and last month of each monthly delivery, as delivered (`yyyy-mm`): its years in
-- between follow, and a month's text is not turned into a date for every delivered row
delivered_months as (

    select
        min(period_key) as first_period_key,
        max(period_key) as last_period_key
    from jeugd

    union all

    select
        min(period_key) as first_period_key,
        max(period_key) as last_period_key
    from wmo

    union all

    select
        min(period_key) as first_period_key,
        max(period_key) as last_period_key
    from participatie

),

data_years as (

    select year from kwb
    union
    select cast(left(first_period_key, 4) as integer) as year from delivered_months
    union
    select cast(left(last_period_key, 4) as integer) as year from delivered_months
    union
    select year from zvw_gemeente
    union
    select year from zvw_postcode3
    union
    select year from budgetten
    union
    select year from clientervaring
    union
    select cast(extract(year from start_date) as integer) as year from interventies

),

bounds as (

    select
        min(year) as first_year,
        max(year) as last_year
    from data_years

),

years (year) as (

    select first_year as year from bounds
    union all
    select years.year + 1 as year
    from years
    inner join bounds
        on years.year < bounds.last_year

),

month_numbers (month_number) as (

    select 1 as month_number
    union all
    select month_number + 1 as month_number
    from month_numbers
    where month_number < 12

),

months as (

    select
        cast(years.year as varchar) || '-' || lpad(cast(month_numbers.month_number as varchar), 2, '0')
            as period_key,
        'month' as period_type,
        years.year,
        month_numbers.month_number,
        cast(floor((month_numbers.month_number - 1) / 3.0) as integer) + 1 as quarter,
        {{ make_date('years.year', 'month_numbers.month_number', 1) }} as start_date
    from years
    cross join month_numbers

),

final as (

    select
        period_key,
        period_type,
        year,
        month_number,
        quarter,
        start_date,
        cast(start_date + interval '1 month' - interval '1 day' as date) as end_date
    from months

    union all

    select
        cast(year as varchar) as period_key,
        'year' as period_type,
        year,
        cast(null as integer) as month_number,
        cast(null as integer) as quarter,
        {{ make_date('year', 1, 1) }} as start_date,
        {{ make_date('year', 12, 31) }} as end_date
    from years

)

select * from final
