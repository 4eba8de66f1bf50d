{#-
    The outcome measures of a group of care (a provider in aanbieder_resultaat, a wijk in
    wijk_resultaat), defined once so both marts count, rate and compare alike. A mart aggregates
    three CTEs keyed by the same columns: `active` (clienten, kosten), `ended` (ended_episode_measures
    over care_episode_outcome) and `satisfaction` (survey_measures over fct_survey_response); then
    `rates` is outcome_rates(keys), a CTE adds the change of each of outcome_change_measures on the
    year before, and the mart selects outcome_columns.
-#}


{#- What ended episodes achieved: aggregates over care_episode_outcome rows. -#}
{% macro ended_episode_measures() -%}
    count(*) as afgesloten_trajecten,
    sum(case when goal_attained then 1 else 0 end) as doel_bereikt,
    sum(case when goal_attained is not null then 1 else 0 end) as doel_beoordeeld,
    sum(case when is_dropout then 1 else 0 end) as uitgevallen,
    sum(case when has_follow_up then 1 else 0 end) as afgesloten_met_follow_up,
    sum(case when has_follow_up and has_reentry then 1 else 0 end) as heringestroomd,
    {#- whole days averaged: the same figure whatever order a parallel sum adds them in -#}
    cast(avg(duration_days) as double precision) / 30.4375 as gemiddelde_duur_maanden
{%- endmacro %}


{#- The tevredenheidscoëfficiënt's counts: answers that agree (4 or 5) on the standard questions,
    aggregated over fct_survey_response rows (of `relation`, when the select joins others). -#}
{% macro survey_measures(relation=none) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    count(distinct {{ prefix }}respondent_id) as respondenten,
    count(*) as antwoorden,
    sum(case when {{ prefix }}antwoord >= 4 then 1 else 0 end) as antwoorden_positief
{%- endmacro %}


{#- One row per group with care in the year, with its rates: `active` left-joined to `ended` and
    `satisfaction` on `keys` (a group without ended episodes or answers counts zero), then the
    percentages and cost per client, null where their base is zero. A body of a CTE. -#}
{% macro outcome_rates(keys) -%}
    select
        combined.*,
        combined.kosten / nullif(combined.clienten, 0) as kosten_per_client,
        combined.doel_bereikt * 100.0 / nullif(combined.doel_beoordeeld, 0) as doelrealisatie_pct,
        combined.uitgevallen * 100.0 / nullif(combined.afgesloten_trajecten, 0) as uitval_pct,
        combined.heringestroomd * 100.0 / nullif(combined.afgesloten_met_follow_up, 0) as herinstroom_pct,
        combined.antwoorden_positief * 100.0 / nullif(combined.antwoorden, 0) as tevredenheid_pct
    from (
        select
            {%- for key in keys %}
                active.{{ key }},
            {%- endfor %}
            active.clienten,
            active.kosten,
            coalesce(ended.afgesloten_trajecten, 0) as afgesloten_trajecten,
            coalesce(ended.doel_bereikt, 0) as doel_bereikt,
            coalesce(ended.doel_beoordeeld, 0) as doel_beoordeeld,
            coalesce(ended.uitgevallen, 0) as uitgevallen,
            coalesce(ended.afgesloten_met_follow_up, 0) as afgesloten_met_follow_up,
            coalesce(ended.heringestroomd, 0) as heringestroomd,
            ended.gemiddelde_duur_maanden,
            coalesce(satisfaction.respondenten, 0) as respondenten,
            coalesce(satisfaction.antwoorden, 0) as antwoorden,
            coalesce(satisfaction.antwoorden_positief, 0) as antwoorden_positief
        from active
        {%- for part in ['ended', 'satisfaction'] %}
            left join {{ part }}
                on
                {%- for key in keys %}
                    {{ 'and ' if not loop.first }}active.{{ key }} = {{ part }}.{{ key }}
                {%- endfor %}
        {%- endfor %}
    ) as combined
{%- endmacro %}


{#- The measures whose change on the year before a mart reports as `<measure>_verandering`. -#}
{% macro outcome_change_measures() -%}
    {{ return(['kosten_per_client', 'doelrealisatie_pct', 'uitval_pct', 'herinstroom_pct',
        'gemiddelde_duur_maanden', 'tevredenheid_pct']) }}
{%- endmacro %}


{#- The published measure columns, in the marts' order: counts, rates, then changes. -#}
{% macro outcome_columns(relation) -%}
    {%- for column in ['clienten', 'kosten', 'kosten_per_client', 'afgesloten_trajecten', 'doel_bereikt',
        'doel_beoordeeld', 'uitgevallen', 'afgesloten_met_follow_up', 'heringestroomd', 'respondenten',
        'antwoorden', 'antwoorden_positief', 'doelrealisatie_pct', 'uitval_pct', 'herinstroom_pct',
        'gemiddelde_duur_maanden', 'tevredenheid_pct'] %}
        {{ relation }}.{{ column }},
    {%- endfor %}
    {%- for measure in outcome_change_measures() %}
        {{ relation }}.{{ measure }}_verandering{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
