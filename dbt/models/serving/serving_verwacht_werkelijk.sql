{{ config(alias='verwacht_werkelijk') }}

with

expected as (

    select * from {{ source('analytics', 'expected_care_use') }}

),

-- a wijk's figures are hidden with its clients, as decided once for every table (disclosure_cells)
flagged as (

    {{ with_cell_decision('expected', 'wijk_code', 'wijk') }}

),

published as (

    select
        flagged.*,
        case
            when flagged.clienten__hidden then null
            when flagged.maat = 'clienten'
                then
                    cast(
                        {{ round_half_away('flagged.werkelijk / ' ~ var('rounding_base') ~ '.0') }}
                        * {{ var('rounding_base') }}
                        as integer
                    )
            else {{ round_half_away('flagged.werkelijk') }}
        end as werkelijk_gepubliceerd
    from flagged

),

with_ratio as (

    select
        published.*,
        published.werkelijk_gepubliceerd / nullif(published.verwacht, 0) as ratio_gepubliceerd
    from published

),

final as (

    select
        with_ratio.year,
        with_ratio.gemeente_code,
        wijken.gemeente_name,
        with_ratio.wijk_code,
        wijken.area_name as wijk_name,
        with_ratio.domein,
        with_ratio.maat,
        with_ratio.verwacht,
        with_ratio.werkelijk_gepubliceerd as werkelijk,
        with_ratio.ratio_gepubliceerd as ratio,
        with_ratio.ratio_gepubliceerd / with_ratio.interval_factor as ratio_ondergrens,
        with_ratio.ratio_gepubliceerd * with_ratio.interval_factor as ratio_bovengrens,
        case
            when with_ratio.ratio_gepubliceerd is null then null
            when with_ratio.ratio_gepubliceerd / with_ratio.interval_factor > 1 then 'hoger dan verwacht'
            when with_ratio.ratio_gepubliceerd * with_ratio.interval_factor < 1 then 'lager dan verwacht'
            else 'conform verwachting'
        end as signaal
    from with_ratio
    {{ join_area_of_year('wijk', 'with_ratio') }}

)

select * from final
