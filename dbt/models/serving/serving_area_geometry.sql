{{ config(alias='area_geometry') }}

{#- geo.area_geometry is written by the Python asset `dagster_project/geometry.py`. Until that
    asset is part of the run, the table is absent: publish an empty table (and say so in the log)
    rather than fail the whole build. -#}
{%- set geometry_source = source('geo', 'area_geometry') -%}
{%- set geometry_exists = execute and adapter.get_relation(
    database=geometry_source.database,
    schema=geometry_source.schema,
    identifier=geometry_source.identifier,
) is not none -%}
{%- if execute and not geometry_exists -%}
    {{ log("WARNING: " ~ geometry_source ~ " does not exist; area_geometry is published empty", info=true) }}
{%- endif %}

with

empty_geometry as (

    select
        cast(null as varchar) as gemeente_code,
        cast(null as varchar) as area_level,
        cast(null as varchar) as area_code,
        cast(null as varchar) as area_name,
        cast(null as integer) as year,
        cast(null as varchar) as bron,
        cast(null as varchar) as geojson
    where false

),

geometry as (

    select * from {{ geometry_source if geometry_exists else 'empty_geometry' }}

),

kerncijfers as (

    select * from {{ ref('serving_wijk_kerncijfers') }}

),

named as (

    select
        geometry.gemeente_code,
        areas.gemeente_name,
        geometry.area_level,
        geometry.area_code,
        coalesce(areas.area_name, geometry.area_name) as area_name,
        geometry.year,
        case
            when geometry.area_level = 'wijk' then geometry.area_code
            else areas.wijk_code
        end as wijk_code,
        areas.wijk_name,
        geometry.bron,
        geometry.geojson
    from geometry
    {{ join_area(none, 'geometry.area_code', 'geometry.year') }}

),

final as (

    select
        named.gemeente_code,
        named.gemeente_name,
        named.area_level,
        named.area_code,
        named.area_name,
        named.year,
        named.wijk_code,
        named.wijk_name,
        kerncijfers.inwoners,
        kerncijfers.huishoudens,
        kerncijfers.gemiddeld_inkomen,
        kerncijfers.pct_huishoudens_laag_inkomen,
        named.bron,
        named.geojson
    from named
    left join kerncijfers
        on
            named.area_level = 'wijk'
            and named.area_code = kerncijfers.wijk_code
            and named.year = kerncijfers.year

)

select * from final
