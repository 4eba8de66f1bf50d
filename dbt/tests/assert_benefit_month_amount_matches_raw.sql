-- The benefits paid in fct_benefit_month per gemeente and month equal the raw deliveries.
with

benefit_months as (

    select * from {{ ref('fct_benefit_month') }}

),

raw_participatie as (

    select * from {{ source('gemeente', 'participatie') }}

),

delivered as (

    select
        gemeentecode as gemeente_code,
        periode as period_key,
        count(*) as n_benefits,
        sum(cast(bedrag_uitkering as decimal(18, 2))) as amount
    from raw_participatie
    group by gemeentecode, periode

),

built as (

    select
        gemeente_code,
        period_key,
        count(*) as n_benefits,
        sum(amount) as amount
    from benefit_months
    group by gemeente_code, period_key

)

select
    coalesce(delivered.gemeente_code, built.gemeente_code) as gemeente_code,
    coalesce(delivered.period_key, built.period_key) as period_key,
    delivered.n_benefits as raw_benefits,
    built.n_benefits as built_benefits,
    delivered.amount as raw_amount,
    built.amount as built_amount
from delivered
full outer join built
    on
        delivered.gemeente_code = built.gemeente_code
        and delivered.period_key = built.period_key
where
    delivered.amount is null
    or built.amount is null
    or delivered.n_benefits <> built.n_benefits
    or abs(delivered.amount - built.amount) >= 0.01
