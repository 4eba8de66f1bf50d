{{ config(alias='wijk_kerncijfers') }}

with

kerncijfers as (

    select * from {{ ref('wijk_kerncijfers') }}

),

suppressed as (

    select
        year,
        gemeente_code,
        gemeente_name,
        wijk_code,
        wijk_name,
        {{ suppress_count('inwoners') }} as inwoners,
        {{ suppress_count('huishoudens') }} as huishoudens,
        {{ suppress_with_base('gemiddeld_inkomen', 'inwoners') }} as gemiddeld_inkomen,
        {{ suppress_with_base('pct_huishoudens_laag_inkomen', 'huishoudens') }}
            as pct_huishoudens_laag_inkomen
    from kerncijfers

)

select * from suppressed
