{{ config(alias='raadsrapportage') }}

{#- Shares whose numerator is a count of people: published at the precision of their rounded base. -#}
{%- set count_shares = [
    'doelrealisatie_jeugd_pct', 'uitval_jeugd_pct', 'herinstroom_jeugd_pct', 'tevredenheid_pct',
] -%}

with

report as (

    select * from {{ ref('raadsrapportage') }}

),

-- the client counts follow the one decision per cell (disclosure_cells), as in budget_realisatie
with_cells as (

    {{ with_cell_decision(
        'report', 'gemeente_code', 'gemeente', domein='indicator', domein_prefix='clienten_',
        hidden_as='cell_hidden', unknown_hidden=false,
    ) }}

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
            when cell_hidden then null
            when eenheid = 'aantal' then {{ suppress_count('waarde') }}
            when indicator in (
                {%- for share in count_shares %}
                    '{{ share }}'{{ "," if not loop.last }}
                {%- endfor %}
            ) then {{ publish_rate('waarde', 'basis') }}
            else {{ suppress_with_base('waarde', 'basis') }}
        end as waarde
    from with_cells

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
        -- a mean over one or two gemeenten would show another gemeente's value to a gemeente
        {{ publish_average('regio_gemiddelde', 'n_in_regio') }} as regio_gemiddelde,
        {{ publish_average(
            'nederland_gemiddelde',
            'count(waarde) over (partition by year, indicator)',
        ) }} as nederland_gemiddelde,
        positie_in_regio,
        n_in_regio,
        regio_code,
        hoger_is_beter,
        volgorde
    from benchmarked

)

select * from final
