{{ config(alias='wijk_veerkracht') }}

with

veerkracht as (

    select * from {{ ref('wijk_veerkracht') }}

),

kerncijfers as (

    select * from {{ ref('serving_wijk_kerncijfers') }}

),

-- inhabitants follow the one decision of wijk_kerncijfers (a wijk hidden there as a partner is
-- hidden here too); the change is hidden when the year before was
flagged as (

    select
        veerkracht.*,
        (
            veerkracht.inwoners is null
            or veerkracht.inwoners < {{ var('suppression_threshold') }}
            or (kerncijfers.wijk_code is not null and kerncijfers.inwoners is null)
        ) as inwoners__hidden,
        coalesce(previous.inwoners < {{ var('suppression_threshold') }}, false) as previous_year__hidden
    from veerkracht
    left join kerncijfers
        on
            veerkracht.wijk_code = kerncijfers.wijk_code
            and veerkracht.year = kerncijfers.year
    left join veerkracht as previous
        on
            veerkracht.wijk_code = previous.wijk_code
            and veerkracht.year = previous.year + 1

),

suppressed as (

    select
        year,
        gemeente_code,
        gemeente_name,
        wijk_code,
        wijk_name,
        {{ publish_count('inwoners') }} as inwoners,
        {{ publish_all_with_base([
            'pct_laag_inkomen', 'pct_huishoudens_met_kinderen', 'pct_bijstand', 'pct_werkloos', 'pct_65_plus',
            'pct_jonger_dan_15', 'pct_eenpersoonshuishoudens', 'gemiddeld_inkomen', 'veerkracht_index',
            'veerkracht_rang',
        ], 'inwoners') }},
        veerkracht_rang_van,
        case
            when not previous_year__hidden then {{ publish_with_base('veerkracht_verandering', 'inwoners') }}
        end as veerkracht_verandering
    from flagged

)

select * from suppressed
