{{ config(alias='aanbieder_resultaat') }}
{%- set counts = ['clienten', 'afgesloten_trajecten', 'respondenten'] %}
{%- set rates = {
    'kosten_per_client': 'clienten',
    'doelrealisatie_pct': 'afgesloten_trajecten',
    'uitval_pct': 'afgesloten_trajecten',
    'herinstroom_pct': 'afgesloten_trajecten',
    'gemiddelde_duur_maanden': 'afgesloten_trajecten',
    'tevredenheid_pct': 'respondenten',
} -%}

with

outcomes as (

    select * from {{ ref('aanbieder_resultaat') }}

),

-- the providers of a gemeente-year-domain add up to the gemeente's figures
flagged as (

    {{ disclosure_flags(
        'outcomes',
        partition_by=['year', 'gemeente_code', 'domein'],
        order_by=['aanbieder_code'],
        counts=counts,
    ) }}

),

suppressed as (

    select
        year,
        gemeente_code,
        gemeente_name,
        domein,
        aanbieder_code,
        aanbieder_naam,
        {{ publish_counts(counts) }},
        {{ publish_with_base('kosten_per_client', 'clienten') }} as kosten_per_client,
        -- shares at the precision of their rounded base, never implying a count below the threshold
        {{ publish_with_base(
            publish_rate('doelrealisatie_pct', 'afgesloten_trajecten'), 'afgesloten_trajecten'
        ) }} as doelrealisatie_pct,
        {{ publish_with_base(publish_rate('uitval_pct', 'afgesloten_trajecten'), 'afgesloten_trajecten') }}
            as uitval_pct,
        -- re-entry is measured on the ended episodes with a full year of follow-up: that base too
        {{ publish_with_base(
            publish_rate('herinstroom_pct', 'afgesloten_met_follow_up'), 'afgesloten_trajecten'
        ) }} as herinstroom_pct,
        {{ publish_with_base('gemiddelde_duur_maanden', 'afgesloten_trajecten') }} as gemiddelde_duur_maanden,
        {{ publish_with_base(publish_rate('tevredenheid_pct', 'respondenten'), 'respondenten') }}
            as tevredenheid_pct
    from flagged

),

-- year-on-year change between published values only, so a change never reveals a hidden year
final as (

    select
        {%- for rate in rates %}
            case
                when previous.year = suppressed.year - 1 then suppressed.{{ rate }} - previous.{{ rate }}
            end as {{ rate }}_verandering,
        {%- endfor %}
        suppressed.*
    from suppressed
    left join suppressed as previous
        on
            suppressed.gemeente_code = previous.gemeente_code
            and suppressed.domein = previous.domein
            and suppressed.aanbieder_code = previous.aanbieder_code
            and suppressed.year = previous.year + 1

)

select * from final
