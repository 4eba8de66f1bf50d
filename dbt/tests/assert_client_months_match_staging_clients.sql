-- The client-months of every gemeente, domain and month equal the distinct clients active in
-- that gemeente and month in the municipal deliveries (staging): nobody lost or counted twice.
with

client_months as (

    select * from {{ ref('fct_client_month') }}

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

delivered as (

    select
        'jeugd' as domain,
        gemeente_code,
        month,
        count(distinct client_pseudonym) as n_clients
    from jeugd
    group by gemeente_code, month

    union all

    select
        'wmo' as domain,
        gemeente_code,
        month,
        count(distinct client_pseudonym) as n_clients
    from wmo
    group by gemeente_code, month

    union all

    select
        'participatie' as domain,
        gemeente_code,
        month,
        count(distinct client_pseudonym) as n_clients
    from participatie
    group by gemeente_code, month

),

built as (

    select
        domain,
        gemeente_code,
        month,
        count(*) as n_client_months
    from client_months
    group by domain, gemeente_code, month

),

compared as (

    select
        coalesce(delivered.domain, built.domain) as domain,
        coalesce(delivered.gemeente_code, built.gemeente_code) as gemeente_code,
        coalesce(delivered.month, built.month) as month,
        delivered.n_clients,
        built.n_client_months
    from delivered
    full outer join built
        on
            delivered.domain = built.domain
            and delivered.gemeente_code = built.gemeente_code
            and delivered.month = built.month

)

select *
from compared
where n_clients is null or n_client_months is null or n_clients <> n_client_months
