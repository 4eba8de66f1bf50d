{{ config(alias='dim_area') }}

with

areas as (

    select * from {{ ref('dim_area') }}

),

harmonised as (

    select * from {{ ref('int_area_harmonised') }}
    where area_level = 'gemeente'

),

-- a gemeente that went whole into one gemeente of the latest year (a merger, a new name) belongs
-- to that gemeente now; a split gemeente keeps only its own code
successors as (

    select
        year,
        area_code as gemeente_code,
        min(reference_gemeente_code) as huidige_gemeente_code
    from harmonised
    group by year, area_code
    having count(distinct reference_gemeente_code) = 1

),

final as (

    select
        areas.area_code,
        areas.area_name,
        areas.area_level,
        areas.gemeente_code,
        areas.gemeente_name,
        areas.wijk_code,
        areas.wijk_name,
        areas.year,
        coalesce(successors.huidige_gemeente_code, areas.gemeente_code) as huidige_gemeente_code
    from areas
    left join successors
        on
            areas.year = successors.year
            and areas.gemeente_code = successors.gemeente_code

)

select * from final
