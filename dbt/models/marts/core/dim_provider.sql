with

jeugd as (

    select * from {{ ref('stg_gemeente__jeugd') }}

),

wmo as (

    select * from {{ ref('stg_gemeente__wmo') }}

),

contracten as (

    select * from {{ ref('stg_gemeente__contracten') }}

),

-- the first and last month each provider delivered care under each name, from the months as
-- delivered (`yyyy-mm`): one pass over the deliveries, and a month's text becomes a date per
-- provider rather than per delivered row
care_periods as (

    select
        agb_code,
        aanbieder_name,
        'jeugd' as domain,
        min(period_key) as first_period_key,
        max(period_key) as last_period_key
    from jeugd
    where agb_code is not null
    group by agb_code, aanbieder_name

    union all

    select
        agb_code,
        aanbieder_name,
        'wmo' as domain,
        min(period_key) as first_period_key,
        max(period_key) as last_period_key
    from wmo
    where agb_code is not null
    group by agb_code, aanbieder_name

),

-- every provider seen, in delivered care and in contracts: a few rows per provider, so what
-- follows reads thousands of rows instead of every delivered row
sighted as (

    select
        agb_code,
        aanbieder_name,
        domain,
        0 as is_contract,
        {{ month_of_period('first_period_key') }} as first_seen,
        {{ month_of_period('last_period_key') }} as last_seen
    from care_periods

    union all

    select
        agb_code,
        aanbieder_name,
        domain,
        1 as is_contract,
        min(start_date) as first_seen,
        max(start_date) as last_seen
    from contracten
    where agb_code is not null
    group by agb_code, aanbieder_name, domain

),

-- when each name of a provider was last used
names as (

    select
        agb_code,
        aanbieder_name,
        max(last_seen) as seen_on
    from sighted
    where aanbieder_name is not null
    group by agb_code, aanbieder_name

),

-- the name used most recently
latest_name as (

    select
        agb_code,
        aanbieder_name,
        row_number() over (
            partition by agb_code
            order by seen_on desc, aanbieder_name asc
        ) as recency
    from names

),

summary as (

    select
        agb_code,
        max(case when domain = 'jeugd' then 1 else 0 end) = 1 as is_jeugd,
        max(case when domain = 'wmo' then 1 else 0 end) = 1 as is_wmo,
        max(is_contract) = 1 as has_contract,
        min(case when is_contract = 0 then first_seen end) as first_care_month,
        max(case when is_contract = 0 then last_seen end) as last_care_month
    from sighted
    group by agb_code

),

final as (

    select
        summary.agb_code,
        latest_name.aanbieder_name as provider_name,
        case
            when summary.is_jeugd and summary.is_wmo then 'jeugd+wmo'
            when summary.is_jeugd then 'jeugd'
            else 'wmo'
        end as domains,
        summary.has_contract,
        summary.first_care_month,
        summary.last_care_month
    from summary
    left join latest_name
        on
            summary.agb_code = latest_name.agb_code
            and latest_name.recency = 1

)

select * from final
