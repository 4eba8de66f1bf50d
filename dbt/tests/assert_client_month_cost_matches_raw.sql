-- The cost in fct_client_month of every domain and month equals the cost delivered in the raw
-- layer for that month (euros, to the cent).
with

client_months as (

    select * from {{ ref('fct_client_month') }}

),

raw_jeugd as (

    select * from {{ source('gemeente', 'jeugd') }}

),

raw_wmo as (

    select * from {{ source('gemeente', 'wmo') }}

),

raw_participatie as (

    select * from {{ source('gemeente', 'participatie') }}

),

delivered as (

    select
        'jeugd' as domain,
        periode as period_key,
        sum(cast(bedrag as decimal(18, 2))) as cost
    from raw_jeugd
    group by periode

    union all

    select
        'wmo' as domain,
        periode as period_key,
        sum(cast(bedrag as decimal(18, 2))) as cost
    from raw_wmo
    group by periode

    union all

    select
        'participatie' as domain,
        periode as period_key,
        sum(cast(bedrag_uitkering as decimal(18, 2))) as cost
    from raw_participatie
    group by periode

),

built as (

    select
        domain,
        period_key,
        sum(cost) as cost
    from client_months
    group by domain, period_key

)

select
    coalesce(delivered.domain, built.domain) as domain,
    coalesce(delivered.period_key, built.period_key) as period_key,
    delivered.cost as raw_cost,
    built.cost as built_cost
from delivered
full outer join built
    on
        delivered.domain = built.domain
        and delivered.period_key = built.period_key
where
    delivered.cost is null
    or built.cost is null
    or abs(delivered.cost - built.cost) >= 0.01
