{{ config(alias='raadsrapportage') }}

with

report as (

    select * from {{ ref('raadsrapportage') }}

),

-- counts are suppressed and rounded; rates, amounts and averages are hidden with their base
suppressed as (

    select
        year,
        gemeente_code,
        gemeente_name,
        regio_code,
        indicator,
        indicator_label,
        eenheid,
        hoger_is_beter,
        volgorde,
        case
            when eenheid = 'aantal' then {{ suppress_count('waarde') }}
            else {{ suppress_with_base('waarde', 'basis') }}
        end as waarde
    from report

),

-- trend and benchmarks recomputed on the published values only
benchmarked as (

    {{ raadsrapportage_benchmarks('suppressed') }}

),

final as (

    select
        year,
        gemeente_code,
        gemeente_name,
        indicator,
        indicator_label,
        eenheid,
        waarde,
        vorig_jaar,
        verandering,
        regio_gemiddelde,
        nederland_gemiddelde,
        positie_in_regio,
        n_in_regio,
        regio_code,
        hoger_is_beter,
        volgorde
    from benchmarked

)

select * from final
