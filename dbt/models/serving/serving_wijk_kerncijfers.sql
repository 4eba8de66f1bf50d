{{ config(alias='wijk_kerncijfers') }}
{%- set counts = ['inwoners', 'huishoudens'] %}

with

kerncijfers as (

    select * from {{ ref('wijk_kerncijfers') }}

),

-- the gemeente totals of inhabitants and households are public, so one hidden wijk needs a partner
flagged as (

    {{ disclosure_flags(
        'kerncijfers',
        partition_by=['year', 'gemeente_code'],
        order_by=['wijk_code'],
        counts=counts,
    ) }}

),

suppressed as (

    select
        year,
        gemeente_code,
        gemeente_name,
        wijk_code,
        wijk_name,
        {{ publish_counts(counts) }},
        {{ publish_with_base('gemiddeld_inkomen', 'inwoners') }} as gemiddeld_inkomen,
        {{ publish_with_base('pct_huishoudens_laag_inkomen', 'huishoudens') }}
            as pct_huishoudens_laag_inkomen
    from flagged

)

select * from suppressed
