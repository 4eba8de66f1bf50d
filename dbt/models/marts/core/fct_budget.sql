with

budgetten as (

    select * from {{ ref('stg_gemeente__budgetten') }}

),

clients as (

    select * from {{ ref('fct_clients_area_year') }}

),

realised as (

    select
        area_code as gemeente_code,
        year,
        domain,
        cost as realisatie,
        clients as n_clients
    from clients
    where area_level = 'gemeente'

),

final as (

    select
        budgetten.gemeente_code,
        coalesce(gemeenten.reference_gemeente_code, budgetten.gemeente_code) as reference_gemeente_code,
        budgetten.year,
        cast(budgetten.year as varchar) as period_key,
        budgetten.domain,
        budgetten.begroting_primair,
        budgetten.begroting_na_wijziging,
        coalesce(realised.realisatie, 0) as realisatie,
        coalesce(realised.n_clients, 0) as n_clients,
        coalesce(realised.realisatie, 0) * 100.0
        / nullif(coalesce(budgetten.begroting_na_wijziging, budgetten.begroting_primair), 0)
            as pct_uitputting
    from budgetten
    left join realised
        on
            budgetten.gemeente_code = realised.gemeente_code
            and budgetten.year = realised.year
            and budgetten.domain = realised.domain
    {{ join_area_of_year('gemeente', 'budgetten') }}

)

select * from final
