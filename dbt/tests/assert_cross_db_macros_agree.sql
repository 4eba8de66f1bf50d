-- The cross-database macros (macros/cross_db.sql) give the same answers on every engine: each
-- row returned here is a macro whose result differs from what it promises.
with

scalars as (

    select
        {{ period_key("cast('2024-03-15' as date)") }} as period_key,
        {{ make_date(2024, 2, 29) }} as leap_day,
        {{ year_of("cast('2024-03-15' as date)") }} as year_number,
        {{ parse_date("'31-12-2024'", '%d-%m-%Y') }} as parsed_date,
        {{ safe_cast("'12.5'", 'double precision') }} as number_ok,
        {{ safe_cast("'twaalf'", 'double precision') }} as number_bad,
        {{ safe_cast("'42'", 'integer') }} as integer_ok,
        {{ safe_cast("'4.2'", 'integer') }} as integer_bad,
        {{ safe_cast("'2024-02-29'", 'date') }} as date_ok,
        {{ divide(7, 2) }} as fraction,
        {{ divide(7, 0) }} as by_zero,
        {{ int_divide(-7, 2) }} as truncated,
        {{ round_half_away('cast(2.5 as double precision)') }} as half_up,
        {{ round_half_away('cast(-2.5 as double precision)') }} as half_down,
        {{ regex_matches("'WK036300'", '^WK[0-9]{6}$') }} as code_matches,
        {{ regex_matches("'BU03630000'", '^WK[0-9]{6}$') }} as code_differs

),

aggregates as (

    select {{ median('numbers.n') }} as middle
    from (
        select 1 as n
        union all
        select 2 as n
        union all
        select 10 as n
    ) as numbers

),

checks as (

    select
        'period_key' as macro,
        scalars.period_key = '2024-03' as ok
    from scalars
    union all
    select
        'make_date' as macro,
        scalars.leap_day = cast('2024-02-29' as date) as ok
    from scalars
    union all
    select
        'year_of' as macro,
        scalars.year_number = 2024 as ok
    from scalars
    union all
    select
        'parse_date' as macro,
        scalars.parsed_date = cast('2024-12-31' as date) as ok
    from scalars
    union all
    select
        'safe_cast' as macro,
        scalars.number_ok = 12.5
        and scalars.number_bad is null
        and scalars.integer_ok = 42
        and scalars.integer_bad is null
        and scalars.date_ok = cast('2024-02-29' as date) as ok
    from scalars
    union all
    select
        'divide' as macro,
        scalars.fraction = 3.5 and scalars.by_zero is null as ok
    from scalars
    union all
    select
        'int_divide' as macro,
        scalars.truncated = -3 as ok
    from scalars
    union all
    select
        'round_half_away' as macro,
        scalars.half_up = 3 and scalars.half_down = -3 as ok
    from scalars
    union all
    select
        'regex_matches' as macro,
        scalars.code_matches and not scalars.code_differs as ok
    from scalars
    union all
    select
        'median' as macro,
        aggregates.middle = 2 as ok
    from aggregates

)

select macro
from checks
where not coalesce(ok, false)
