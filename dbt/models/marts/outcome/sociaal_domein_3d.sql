{#-
    Incremental by year: a year is built again when its client-months changed (their number, or
    the latest time one of them was built: a new or re-delivered month, an area division that
    moved on, a withdrawn delivery); the other years stay. `unique_key` is the year.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['year'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="{{ delete_years_without_client_months() }}",
    )
}}

with

client_months as not materialized (

    select * from {{ ref('fct_client_month') }}

),

-- what a year is built from: its client-months, and when the latest of them was built
years_to_build as (

    {{ years_to_build() }}

),

-- read twice, by the household's year and by its address: not materialized (here and above), since
-- holding every client-month in memory costs more than scanning the fact again
client_years as not materialized (

    select
        household_key,
        {{ year_of('month') }} as year,
        domain,
        month,
        gemeente_code,
        wijk_code,
        cost
    from client_months
    where
        household_key is not null
        and {{ year_of('month') }} in (select years_to_build.year from years_to_build)

),

-- one row per household per year: in how many domains it had support, and what it cost
household_years as (

    select
        household_key,
        year,
        max(case when domain = 'jeugd' then 1 else 0 end) as has_jeugd,
        max(case when domain = 'wmo' then 1 else 0 end) as has_wmo,
        max(case when domain = 'participatie' then 1 else 0 end) as has_participatie,
        sum(cost) as cost,
        max(month) as last_month
    from client_years
    group by household_key, year

),

-- the household lives where its latest delivered month of the year says: only the rows of that
-- month are ordered, an eighth of the client-months
household_addresses as (

    select
        client_years.household_key,
        client_years.year,
        client_years.gemeente_code,
        client_years.wijk_code,
        row_number() over (
            partition by client_years.household_key, client_years.year
            order by client_years.wijk_code asc, client_years.gemeente_code asc
        ) as recency
    from client_years
    inner join household_years
        on
            client_years.household_key = household_years.household_key
            and client_years.year = household_years.year
            and client_years.month = household_years.last_month

),

households as (

    select
        household_years.household_key,
        household_years.year,
        household_years.has_jeugd,
        household_years.has_wmo,
        household_years.has_participatie,
        household_years.cost,
        household_years.has_jeugd + household_years.has_wmo + household_years.has_participatie as n_domains,
        household_addresses.wijk_code,
        coalesce(wijken.gemeente_code, household_addresses.gemeente_code) as gemeente_code
    from household_years
    inner join household_addresses
        on
            household_years.household_key = household_addresses.household_key
            and household_years.year = household_addresses.year
            and household_addresses.recency = 1
    {{ join_area('wijk', 'household_addresses.wijk_code', 'household_years.year') }}

),

per_wijk as (

    select
        year,
        gemeente_code,
        wijk_code,
        count(*) as huishoudens_met_ondersteuning,
        sum(case when n_domains = 1 then 1 else 0 end) as huishoudens_1_domein,
        sum(case when n_domains = 2 then 1 else 0 end) as huishoudens_2_domeinen,
        sum(case when n_domains = 3 then 1 else 0 end) as huishoudens_3_domeinen,
        sum(case when n_domains >= 2 then 1 else 0 end) as huishoudens_multi_domein,
        sum(case when has_jeugd = 1 and has_wmo = 1 then 1 else 0 end) as huishoudens_jeugd_wmo,
        sum(case when has_jeugd = 1 and has_participatie = 1 then 1 else 0 end)
            as huishoudens_jeugd_participatie,
        sum(case when has_wmo = 1 and has_participatie = 1 then 1 else 0 end)
            as huishoudens_wmo_participatie,
        sum(cost) as kosten_totaal,
        sum(case when n_domains >= 2 then cost else 0 end) as kosten_multi_domein
    from households
    group by year, gemeente_code, wijk_code

),

final as (

    select
        per_wijk.year,
        per_wijk.gemeente_code,
        gemeenten.area_name as gemeente_name,
        gemeenten.reference_gemeente_code,
        per_wijk.wijk_code,
        wijken.area_name as wijk_name,
        wijken.reference_area_code as reference_wijk_code,
        per_wijk.huishoudens_met_ondersteuning,
        per_wijk.huishoudens_1_domein,
        per_wijk.huishoudens_2_domeinen,
        per_wijk.huishoudens_3_domeinen,
        per_wijk.huishoudens_multi_domein,
        per_wijk.huishoudens_jeugd_wmo,
        per_wijk.huishoudens_jeugd_participatie,
        per_wijk.huishoudens_wmo_participatie,
        per_wijk.kosten_totaal,
        per_wijk.kosten_multi_domein,
        per_wijk.kosten_multi_domein * 100.0 / nullif(per_wijk.kosten_totaal, 0)
            as aandeel_kosten_multi_domein,
        years_to_build.input_rows,
        years_to_build.input_built_at,
        cast(current_timestamp as timestamp) as built_at
    from per_wijk
    inner join years_to_build
        on per_wijk.year = years_to_build.year
    {{ join_area_of_year('gemeente', 'per_wijk') }}
    {{ join_area_of_year('wijk', 'per_wijk') }}

)

select * from final
