-- The total cost of all care episodes of a domain equals the cost delivered in the raw layer,
-- and every delivered trajectory or provision is one episode (a domain not delivered yet has none).
-- Raw amounts are doubles: summed as the decimals staging makes of them, so the comparison is exact
-- and does not depend on the order a parallel sum adds a hundred million of them in.
with

episodes as (

    select * from {{ ref('fct_care_episode') }}

),

raw_jeugd as (

    select * from {{ source('gemeente', 'jeugd') }}

),

raw_wmo as (

    select * from {{ source('gemeente', 'wmo') }}

),

delivered as (

    select
        'jeugd' as domain,
        count(distinct trajectnummer) as n_episodes,
        sum(cast(bedrag as decimal(18, 2))) as cost
    from raw_jeugd

    union all

    select
        'wmo' as domain,
        count(distinct voorzieningnummer) as n_episodes,
        sum(cast(bedrag as decimal(18, 2))) as cost
    from raw_wmo

),

built as (

    select
        domain,
        count(*) as n_episodes,
        sum(total_cost) as cost
    from episodes
    group by domain

)

select
    delivered.domain,
    delivered.n_episodes as raw_episodes,
    built.n_episodes as built_episodes,
    delivered.cost as raw_cost,
    built.cost as built_cost
from delivered
left join built
    on delivered.domain = built.domain
where
    delivered.n_episodes > 0
    and (
        built.domain is null
        or delivered.n_episodes <> built.n_episodes
        or abs(delivered.cost - built.cost) >= 0.01
    )
