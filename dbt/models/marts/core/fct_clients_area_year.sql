{#-
    Incremental by year (macros/incremental.sql): a year is built again when its client-months
    changed. `unique_key` is the year.
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

years_to_build as (

    {{ years_to_build() }}

),

client_years as (

    select
        {{ year_of('month') }} as year,
        domain,
        client_key,
        wijk_code,
        gemeente_code,
        reference_gemeente_code,
        cost
    from {{ ref('fct_client_month') }}
    where {{ year_of('month') }} in (select years_to_build.year from years_to_build)

),

-- one row per client, domain and area of a year: a seventh of the client-months, held once and
-- read three times, once per kind of area (the distinct clients of an area are those of its rows)
client_areas as materialized (

    select
        year,
        domain,
        client_key,
        wijk_code,
        gemeente_code,
        reference_gemeente_code,
        sum(cost) as cost
    from client_years
    group by year, domain, client_key, wijk_code, gemeente_code, reference_gemeente_code

),

per_area as (

    select
        year,
        domain,
        'wijk' as area_level,
        wijk_code as area_code,
        count(distinct client_key) as clients,
        sum(cost) as cost
    from client_areas
    group by year, domain, wijk_code

    union all

    select
        year,
        domain,
        'gemeente' as area_level,
        gemeente_code as area_code,
        count(distinct client_key) as clients,
        sum(cost) as cost
    from client_areas
    group by year, domain, gemeente_code

    union all

    select
        year,
        domain,
        'reference_gemeente' as area_level,
        reference_gemeente_code as area_code,
        count(distinct client_key) as clients,
        sum(cost) as cost
    from client_areas
    group by year, domain, reference_gemeente_code

),

final as (

    select
        per_area.year,
        per_area.domain,
        per_area.area_level,
        per_area.area_code,
        per_area.clients,
        per_area.cost,
        years_to_build.input_rows,
        years_to_build.input_built_at,
        cast(current_timestamp as timestamp) as built_at
    from per_area
    inner join years_to_build
        on per_area.year = years_to_build.year

)

select * from final
