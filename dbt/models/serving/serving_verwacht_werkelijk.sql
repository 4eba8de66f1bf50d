{{ config(alias='verwacht_werkelijk') }}

with

expected as (

    select * from {{ source('analytics', 'expected_care_use') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

-- primary suppression: the wijk's clients in the domain are below the threshold
primary_flags as (

    select
        expected.*,
        (
            expected.clienten is null or expected.clienten < {{ var('suppression_threshold') }}
        ) as is_primary
    from expected

),

-- complementary suppression: a single hidden wijk in a gemeente could be recovered from the
-- gemeente total, so then the wijk with the next-smallest count is hidden too
ranked as (

    select
        primary_flags.*,
        sum(case when primary_flags.is_primary then 1 else 0 end) over (
            partition by
                primary_flags.year,
                primary_flags.gemeente_code,
                primary_flags.domein,
                primary_flags.maat
        ) as n_primary,
        row_number() over (
            partition by
                primary_flags.year,
                primary_flags.gemeente_code,
                primary_flags.domein,
                primary_flags.maat,
                primary_flags.is_primary
            order by primary_flags.clienten asc, primary_flags.wijk_code asc
        ) as rank_in_kind
    from primary_flags

),

flagged as (

    select
        ranked.*,
        ranked.is_primary or (ranked.n_primary = 1 and ranked.rank_in_kind = 1) as is_suppressed
    from ranked

),

published as (

    select
        flagged.*,
        case
            when flagged.is_suppressed then null
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
        areas.gemeente_name,
        with_ratio.wijk_code,
        areas.area_name as wijk_name,
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
    left join areas
        on
            with_ratio.wijk_code = areas.area_code
            and with_ratio.year = areas.year

)

select * from final
