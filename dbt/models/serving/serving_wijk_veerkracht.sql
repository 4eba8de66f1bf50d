{{ config(alias='wijk_veerkracht') }}

with

veerkracht as (

    select * from {{ ref('wijk_veerkracht') }}

),

suppressed as (

    select
        year,
        gemeente_code,
        gemeente_name,
        wijk_code,
        wijk_name,
        {{ suppress_count('inwoners') }} as inwoners,
        {{ suppress_with_base('pct_laag_inkomen', 'inwoners') }} as pct_laag_inkomen,
        {{ suppress_with_base('pct_huishoudens_met_kinderen', 'inwoners') }} as pct_huishoudens_met_kinderen,
        {{ suppress_with_base('pct_bijstand', 'inwoners') }} as pct_bijstand,
        {{ suppress_with_base('pct_werkloos', 'inwoners') }} as pct_werkloos,
        {{ suppress_with_base('pct_65_plus', 'inwoners') }} as pct_65_plus,
        {{ suppress_with_base('pct_jonger_dan_15', 'inwoners') }} as pct_jonger_dan_15,
        {{ suppress_with_base('pct_eenpersoonshuishoudens', 'inwoners') }} as pct_eenpersoonshuishoudens,
        {{ suppress_with_base('gemiddeld_inkomen', 'inwoners') }} as gemiddeld_inkomen,
        {{ suppress_with_base('veerkracht_index', 'inwoners') }} as veerkracht_index,
        {{ suppress_with_base('veerkracht_rang', 'inwoners') }} as veerkracht_rang,
        veerkracht_rang_van,
        {{ suppress_with_base('veerkracht_verandering', 'inwoners') }} as veerkracht_verandering
    from veerkracht

)

select * from suppressed
