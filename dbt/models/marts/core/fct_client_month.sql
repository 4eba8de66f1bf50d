{{
    config(
        materialized='incremental',
        unique_key=['client_key', 'domain', 'gemeente_code', 'month'],
        incremental_strategy='delete+insert',
    )
}}

with

jeugd as (

    select * from {{ ref('stg_gemeente__jeugd') }}

),

wmo as (

    select * from {{ ref('stg_gemeente__wmo') }}

),

participatie as (

    select * from {{ ref('stg_gemeente__participatie') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

age_groups as (

    select * from {{ ref('dim_age_group') }}

),

-- one row per delivered case per month, the three domains in one shape
case_months as (

    select
        'jeugd' as domain,
        gemeente_code,
        month,
        client_pseudonym,
        household_pseudonym,
        wijk_code,
        birth_year,
        bedrag
    from jeugd

    union all

    select
        'wmo' as domain,
        gemeente_code,
        month,
        client_pseudonym,
        household_pseudonym,
        wijk_code,
        birth_year,
        bedrag
    from wmo

    union all

    select
        'participatie' as domain,
        gemeente_code,
        month,
        client_pseudonym,
        household_pseudonym,
        wijk_code,
        birth_year,
        bedrag
    from participatie

),

-- an incremental run rebuilds the latest month it holds and adds the newer ones
new_case_months as (

    select * from case_months
    {% if is_incremental() %}
        where month >= (select max(month) from {{ this }})
    {% endif %}

),

client_months as (

    select
        client_pseudonym as client_key,
        domain,
        gemeente_code,
        month,
        max(household_pseudonym) as household_key,
        max(wijk_code) as wijk_code,
        max(birth_year) as birth_year,
        count(*) as n_cases,
        sum(bedrag) as cost
    from new_case_months
    group by client_pseudonym, domain, gemeente_code, month

),

final as (

    select
        client_months.client_key,
        client_months.domain,
        client_months.gemeente_code,
        client_months.month,
        {{ dbt.concat([
            "cast(extract(year from client_months.month) as varchar)",
            "'-'",
            "lpad(cast(extract(month from client_months.month) as varchar), 2, '0')",
        ]) }} as period_key,
        coalesce(gemeenten.reference_gemeente_code, client_months.gemeente_code) as reference_gemeente_code,
        client_months.household_key,
        client_months.wijk_code,
        wijken.reference_area_code as reference_wijk_code,
        cast(extract(year from client_months.month) as integer) - client_months.birth_year as age,
        age_groups.age_group_code,
        client_months.n_cases,
        client_months.cost
    from client_months
    left join areas as gemeenten
        on
            client_months.gemeente_code = gemeenten.area_code
            and cast(extract(year from client_months.month) as integer) = gemeenten.year
    left join areas as wijken
        on
            client_months.wijk_code = wijken.area_code
            and cast(extract(year from client_months.month) as integer) = wijken.year
    left join age_groups
        on
            cast(extract(year from client_months.month) as integer) - client_months.birth_year
            between age_groups.min_age and age_groups.max_age

)

select * from final
