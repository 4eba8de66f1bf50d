{#- indicator_code: expression over the source row (counts become shares and rates here) -#}
{%- set kwb_indicators = {
    'inwoners': 'inwoners',
    'aandeel_0_15': 'inwoners_0_14 * 100.0 / nullif(inwoners, 0)',
    'aandeel_65_plus': 'inwoners_65_plus * 100.0 / nullif(inwoners, 0)',
    'huishoudgrootte': 'inwoners * 1.0 / nullif(huishoudens, 0)',
    'aandeel_eenpersoonshuishoudens': 'huishoudens_eenpersoons * 100.0 / nullif(huishoudens, 0)',
    'aandeel_huishoudens_met_kinderen': 'huishoudens_met_kinderen * 100.0 / nullif(huishoudens, 0)',
    'gemiddeld_inkomen': 'gemiddeld_inkomen',
    'aandeel_laag_inkomen': 'pct_huishoudens_laag_inkomen',
    'aandeel_bijstand': 'personen_bijstand * 1000.0 / nullif(inwoners, 0)',
    'aandeel_ww': 'personen_ww * 1000.0 / nullif(inwoners, 0)',
    'jongeren_met_jeugdzorg': 'pct_jongeren_met_jeugdzorg',
} -%}
{%- set wijk_zorg_indicators = {
    'wmo_clienten': 'wmo_clienten_per_1000',
    'jongeren_met_jeugdhulp': 'pct_jongeren_met_jeugdhulp',
    'jeugdhulp_met_verblijf': 'jeugdhulp_met_verblijf',
} -%}

with

kwb as (

    select * from {{ ref('stg_cbs__kwb') }}

),

wijk_zorg as (

    select * from {{ ref('stg_cbs__wijk_zorg') }}

),

-- one row per area, year and indicator (unpivoted)
kwb_long as (

    {{ unpivot(
        'kwb',
        ['area_code', 'area_level', 'gemeente_code', 'year', "'cbs_kwb' as source"],
        kwb_indicators, 'indicator_code', 'value', 'double precision',
    ) }}

),

wijk_zorg_long as (

    {{ unpivot(
        'wijk_zorg',
        ['area_code', 'area_level', 'gemeente_code', 'year', "'cbs_wijk_zorg' as source"],
        wijk_zorg_indicators, 'indicator_code', 'value', 'double precision',
    ) }}

),

unioned as (

    select * from kwb_long
    union all
    select * from wijk_zorg_long

),

final as (

    select
        area_code,
        area_level,
        gemeente_code,
        year,
        cast(year as varchar) as period_key,
        indicator_code,
        value,
        source
    from unioned
    -- a value CBS kept secret is absent rather than zero
    where value is not null

)

select * from final
