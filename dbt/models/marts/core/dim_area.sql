with

kwb as (

    select * from {{ ref('stg_cbs__kwb') }}

),

boundaries as (

    select * from {{ ref('stg_cbs__gebieden') }}

),

gemeenten as (

    select * from {{ ref('ref_gemeenten') }}

),

harmonised as (

    select * from {{ ref('int_area_harmonised') }}

),

-- every area of every year: the KWB areas, plus areas only the boundaries know
areas as (

    select
        coalesce(kwb.area_code, boundaries.area_code) as area_code,
        coalesce(kwb.year, boundaries.year) as year,
        coalesce(kwb.area_level, boundaries.area_level) as area_level,
        coalesce(kwb.gemeente_code, boundaries.gemeente_code) as gemeente_code,
        coalesce(kwb.wijk_code, boundaries.wijk_code) as wijk_code,
        kwb.gemeente_name as kwb_gemeente_name,
        boundaries.area_name as boundary_name
    from kwb
    full outer join boundaries
        on
            kwb.area_code = boundaries.area_code
            and kwb.year = boundaries.year

),

boundary_names as (

    select
        area_code,
        year,
        area_name
    from boundaries

),

-- the reference-year area an area mostly lies in (all shares are in int_area_harmonised)
main_reference as (

    select
        year,
        area_code,
        reference_year,
        reference_area_code,
        reference_gemeente_code,
        weight as reference_weight,
        count(*) over (partition by year, area_code) as n_reference_areas,
        row_number() over (
            partition by year, area_code
            order by weight desc, reference_area_code asc
        ) as weight_rank
    from harmonised

),

named as (

    select
        areas.area_code,
        areas.area_level,
        areas.gemeente_code,
        coalesce(
            areas.kwb_gemeente_name, gemeente_boundary.area_name, gemeenten.name
        ) as gemeente_name,
        areas.wijk_code,
        areas.year,
        coalesce(
            areas.boundary_name,
            case areas.area_level
                when 'gemeente' then coalesce(areas.kwb_gemeente_name, gemeenten.name)
                when 'wijk'
                    then
                        'Wijk ' || substr(areas.area_code, 7, 2) || ' '
                        || coalesce(areas.kwb_gemeente_name, gemeenten.name)
                else
                    'Buurt ' || substr(areas.area_code, 7, 4) || ' '
                    || coalesce(areas.kwb_gemeente_name, gemeenten.name)
            end
        ) as area_name,
        case
            when areas.wijk_code is not null
                then coalesce(
                    wijk_boundary.area_name,
                    'Wijk ' || substr(areas.wijk_code, 7, 2) || ' '
                    || coalesce(areas.kwb_gemeente_name, gemeenten.name)
                )
        end as wijk_name,
        gemeenten.province,
        gemeenten.jeugdregio,
        gemeenten.arbeidsmarktregio
    from areas
    left join gemeenten
        on areas.gemeente_code = gemeenten.code
    left join boundary_names as gemeente_boundary
        on
            areas.gemeente_code = gemeente_boundary.area_code
            and areas.year = gemeente_boundary.year
    left join boundary_names as wijk_boundary
        on
            areas.wijk_code = wijk_boundary.area_code
            and areas.year = wijk_boundary.year

),

reference_names as (

    select
        area_code,
        year,
        area_name
    from named

),

final as (

    select
        named.area_code,
        named.area_name,
        named.area_level,
        named.gemeente_code,
        named.gemeente_name,
        named.wijk_code,
        named.wijk_name,
        named.year,
        named.province,
        named.jeugdregio,
        named.arbeidsmarktregio,
        main_reference.reference_year,
        main_reference.reference_area_code,
        reference_names.area_name as reference_area_name,
        main_reference.reference_gemeente_code,
        main_reference.reference_weight,
        main_reference.n_reference_areas,
        named.year = main_reference.reference_year as is_reference_year
    from named
    left join main_reference
        on
            named.area_code = main_reference.area_code
            and named.year = main_reference.year
            and main_reference.weight_rank = 1
    left join reference_names
        on
            main_reference.reference_area_code = reference_names.area_code
            and main_reference.reference_year = reference_names.year

)

select * from final
