{#- indicator: (unit, higher is better, value, base count, source); labels come from dim_indicator -#}
{%- set indicators = {
    'inwoners': ('aantal', none, 'inwoners', 'inwoners', 'context'),
    'kosten_sociaal_domein_per_inwoner': (
        'euro', none, 'kosten_sociaal_domein / nullif(inwoners, 0)', 'inwoners', 'context'),
    'zvw_kosten_per_verzekerde': (
        'euro', none, 'zvw_kosten_totaal / nullif(verzekerden, 0)', 'verzekerden', 'context'),
    'huishoudens_met_ondersteuning': (
        'aantal', none, 'huishoudens_met_ondersteuning', 'huishoudens_met_ondersteuning', 'context'),
    'huishoudens_multi_domein': (
        'aantal', none, 'huishoudens_multi_domein', 'huishoudens_multi_domein', 'context'),
    'aandeel_kosten_multi_domein': (
        'pct', none, 'kosten_multi_domein * 100.0 / nullif(kosten_sociaal_domein, 0)',
        'huishoudens_multi_domein', 'context'),
    'clienten_jeugd': ('aantal', none, 'clienten_jeugd', 'clienten_jeugd', 'money'),
    'clienten_wmo': ('aantal', none, 'clienten_wmo', 'clienten_wmo', 'money'),
    'clienten_participatie': ('aantal', none, 'clienten_participatie', 'clienten_participatie', 'money'),
    'realisatie_pct_begroting': (
        'pct', none, 'realisatie * 100.0 / nullif(budget, 0)', 'clienten', 'money'),
    'doelrealisatie_jeugd_pct': (
        'pct', true, 'doel_bereikt * 100.0 / nullif(doel_beoordeeld, 0)', 'doel_beoordeeld', 'outcomes'),
    'uitval_jeugd_pct': (
        'pct', false, 'uitgevallen * 100.0 / nullif(afgesloten_trajecten, 0)',
        'afgesloten_trajecten', 'outcomes'),
    'herinstroom_jeugd_pct': (
        'pct', false, 'heringestroomd * 100.0 / nullif(afgesloten_met_follow_up, 0)',
        'afgesloten_met_follow_up', 'outcomes'),
    'gemiddelde_duur_jeugd_maanden': (
        'maanden', none, 'duur_maanden_totaal / nullif(afgesloten_trajecten, 0)',
        'afgesloten_trajecten', 'outcomes'),
    'tevredenheid_pct': (
        'pct', true, 'antwoorden_positief * 100.0 / nullif(antwoorden, 0)',
        'respondenten', 'satisfaction'),
} -%}

with

zvw_context as (

    select * from {{ ref('zvw_context') }}

),

budget as (

    select * from {{ ref('budget_realisatie') }}

),

providers as (

    select * from {{ ref('aanbieder_resultaat') }}

),

indicator_labels as (

    select * from {{ ref('dim_indicator') }}

),

context as (

    select
        year,
        gemeente_code,
        inwoners,
        verzekerden,
        zvw_kosten_totaal,
        kosten_sociaal_domein,
        kosten_multi_domein,
        huishoudens_met_ondersteuning,
        huishoudens_multi_domein
    from zvw_context

),

money as (

    select
        year,
        gemeente_code,
        sum(budget) as budget,
        sum(realisatie) as realisatie,
        sum(clienten) as clienten,
        sum(case when domein = 'jeugd' then clienten end) as clienten_jeugd,
        sum(case when domein = 'wmo' then clienten end) as clienten_wmo,
        sum(case when domein = 'participatie' then clienten end) as clienten_participatie
    from budget
    group by year, gemeente_code

),

-- outcome counts of all providers together (a rate of the gemeente, not an average of rates)
outcomes as (

    select
        year,
        gemeente_code,
        sum(afgesloten_trajecten) as afgesloten_trajecten,
        sum(doel_bereikt) as doel_bereikt,
        sum(doel_beoordeeld) as doel_beoordeeld,
        sum(uitgevallen) as uitgevallen,
        sum(afgesloten_met_follow_up) as afgesloten_met_follow_up,
        sum(heringestroomd) as heringestroomd,
        sum(gemiddelde_duur_maanden * afgesloten_trajecten) as duur_maanden_totaal
    from providers
    where domein = 'jeugd'
    group by year, gemeente_code

),

satisfaction as (

    select
        year,
        gemeente_code,
        sum(respondenten) as respondenten,
        sum(antwoorden) as antwoorden,
        sum(antwoorden_positief) as antwoorden_positief
    from providers
    group by year, gemeente_code

),

long as (

    {%- for code, (unit, higher_is_better, value, base, cte) in indicators.items() %}
        select
            year,
            gemeente_code,
            '{{ code }}' as indicator,
            '{{ unit }}' as eenheid,
            {{ 'cast(null as boolean)' if higher_is_better is none else higher_is_better }} as hoger_is_beter,
            {{ loop.index }} as volgorde,
            cast({{ value }} as double precision) as waarde,
            cast({{ base }} as double precision) as basis
        from {{ cte }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

-- name and region as of the latest year the gemeente exists
gemeenten as (

    {{ latest_area_attributes('gemeente', ['area_name', 'jeugdregio']) }}

),

located as (

    select
        long.year,
        long.gemeente_code,
        long.indicator,
        indicator_labels.indicator_label,
        long.eenheid,
        long.hoger_is_beter,
        long.volgorde,
        long.waarde,
        long.basis,
        gemeenten.area_name as gemeente_name,
        coalesce(gemeenten.jeugdregio, 'onbekend') as regio_code
    from long
    left join indicator_labels
        on long.indicator = indicator_labels.indicator_code
    left join gemeenten
        on long.gemeente_code = gemeenten.area_code

),

final as (

    {{ raadsrapportage_benchmarks('located') }}

)

select * from final
