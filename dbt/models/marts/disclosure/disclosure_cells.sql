{#- The clients of a wijk or gemeente in a year and domain are shown in several serving tables
    (verwacht_werkelijk, populatiebekostiging, benchmark, budget_realisatie, raadsrapportage). Each
    such count is decided here once, so a count hidden in one table is hidden in all. -#}

with

wijk_use as (

    select * from {{ source('analytics', 'expected_care_use') }}
    where maat = 'clienten'

),

gemeente_use as (

    select * from {{ ref('budget_realisatie') }}

),

cells as (

    select
        'wijk' as area_level,
        wijk_code as area_code,
        gemeente_code,
        year,
        domein,
        clienten,
        'wijk|' || wijk_code || '|' || cast(year as varchar) || '|' || domein as cell_id
    from wijk_use
    union all
    select
        'gemeente' as area_level,
        gemeente_code as area_code,
        gemeente_code,
        year,
        domein,
        clienten,
        'gemeente|' || gemeente_code || '|' || cast(year as varchar) || '|' || domein as cell_id
    from gemeente_use

),

cell_values as (

    select
        cell_id,
        cast(clienten as double precision) as value
    from cells

),

-- the wijken of a gemeente-year-domain with the gemeente itself (its total is published), and the
-- domains of a gemeente-year (they add up to the social-domain spend that is published)
memberships as (

    select
        'wijken|' || gemeente_code || '|' || cast(year as varchar) || '|' || domein as group_id,
        cell_id
    from cells
    union all
    select
        'domeinen|' || gemeente_code || '|' || cast(year as varchar) as group_id,
        cell_id
    from cells
    where area_level = 'gemeente'

),

decided as (

    {{ disclosure_fixed_point('cell_values', 'memberships') }}

),

final as (

    select
        cells.area_level,
        cells.area_code,
        cells.gemeente_code,
        cells.year,
        cells.domein,
        cells.clienten,
        decided.hidden,
        cells.cell_id
    from cells
    inner join decided
        on cells.cell_id = decided.cell_id

)

select * from final
