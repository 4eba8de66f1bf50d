with

budgets as (

    select * from {{ ref('fct_budget') }}

),

-- budgets and spend of gemeenten that later merged are added up under the reference gemeente
per_reference_gemeente as (

    select
        year,
        reference_gemeente_code as gemeente_code,
        domain,
        sum(begroting_primair) as begroting_primair,
        sum(coalesce(begroting_na_wijziging, begroting_primair)) as budget,
        sum(realisatie) as realisatie,
        sum(n_clients) as clienten
    from budgets
    group by year, reference_gemeente_code, domain

),

gemeente_names as (

    {{ latest_area_attributes('gemeente') }}

),

final as (

    select
        per_reference_gemeente.year,
        per_reference_gemeente.gemeente_code,
        gemeente_names.area_name as gemeente_name,
        per_reference_gemeente.domain as domein,
        per_reference_gemeente.begroting_primair,
        per_reference_gemeente.budget,
        per_reference_gemeente.realisatie,
        per_reference_gemeente.realisatie - per_reference_gemeente.budget as verschil,
        per_reference_gemeente.realisatie
        * 100.0
        / nullif(per_reference_gemeente.budget, 0) as realisatie_pct,
        per_reference_gemeente.clienten
    from per_reference_gemeente
    left join gemeente_names
        on per_reference_gemeente.gemeente_code = gemeente_names.area_code

)

select * from final
