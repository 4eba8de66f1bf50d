with

client_months as not materialized (

    select * from {{ ref('fct_client_month') }}

),

-- read twice, by the household's year and by its address: not materialized (here and above), since
-- holding every client-month in memory costs more than scanning the fact again
client_years as not materialized (

    select
        household_key,
        cast(extract(year from month) as integer) as year,
        domain,
        month,
        gemeente_code,
        wijk_code,
        cost
    from client_months
    where household_key is not null

),

-- one row per household per year: in how many domains it had support, and what it cost
household_years as (

    select
        household_key,
        year,
        max(case when domain = 'jeugd' then 1 else 0 end) as has_jeugd,
        max(case when domain = 'wmo' then 1 else 0 end) as has_wmo,
        max(case when domain = 'participatie' then 1 else 0 end) as has_participatie,
        sum(cost) as cost
    from client_years
    group by household_key, year

),

-- the household lives where its latest delivered month of the year says
household_addresses as (

    select
        household_key,
        year,
        gemeente_code,
        wijk_code,
        row_number() over (
            partition by household_key, year
            order by month desc, wijk_code asc, gemeente_code asc
        ) as recency
    from client_years

),

households as (

    select
        household_years.*,
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
            as aandeel_kosten_multi_domein
    from per_wijk
    {{ join_area_of_year('gemeente', 'per_wijk') }}
    {{ join_area_of_year('wijk', 'per_wijk') }}

)

select * from final
