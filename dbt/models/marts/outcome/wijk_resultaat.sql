with

client_months as (

    select * from {{ ref('fct_client_month') }}

),

episode_outcomes as (

    select * from {{ ref('care_episode_outcome') }}

),

survey as (

    select * from {{ ref('fct_survey_response') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

active as (

    select
        cast(extract(year from month) as integer) as year,
        wijk_code,
        domain,
        count(distinct client_key) as clienten,
        sum(cost) as kosten
    from client_months
    where wijk_code is not null
    group by cast(extract(year from month) as integer), wijk_code, domain

),

ended as (

    select
        end_year as year,
        wijk_code,
        domain,
        count(*) as afgesloten_trajecten,
        sum(case when goal_attained then 1 else 0 end) as doel_bereikt,
        sum(case when goal_attained is not null then 1 else 0 end) as doel_beoordeeld,
        sum(case when is_dropout then 1 else 0 end) as uitgevallen,
        sum(case when has_follow_up then 1 else 0 end) as afgesloten_met_follow_up,
        sum(case when has_follow_up and has_reentry then 1 else 0 end) as heringestroomd,
        avg(duration_months) as gemiddelde_duur_maanden
    from episode_outcomes
    where wijk_code is not null
    group by end_year, wijk_code, domain

),

-- answers located in the wijk of the episode they are about
satisfaction as (

    select
        survey.year,
        episode_outcomes.wijk_code,
        survey.domain,
        count(distinct survey.respondent_id) as respondenten,
        count(*) as antwoorden,
        sum(case when survey.antwoord >= 4 then 1 else 0 end) as antwoorden_positief
    from survey
    inner join episode_outcomes
        on survey.episode_key = episode_outcomes.episode_key
    where episode_outcomes.wijk_code is not null
    group by survey.year, episode_outcomes.wijk_code, survey.domain

),

combined as (

    select
        active.year,
        active.wijk_code,
        active.domain,
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
    left join ended
        on
            active.year = ended.year
            and active.wijk_code = ended.wijk_code
            and active.domain = ended.domain
    left join satisfaction
        on
            active.year = satisfaction.year
            and active.wijk_code = satisfaction.wijk_code
            and active.domain = satisfaction.domain

),

rates as (

    select
        combined.*,
        combined.kosten / nullif(combined.clienten, 0) as kosten_per_client,
        combined.doel_bereikt * 100.0 / nullif(combined.doel_beoordeeld, 0) as doelrealisatie_pct,
        combined.uitgevallen * 100.0 / nullif(combined.afgesloten_trajecten, 0) as uitval_pct,
        combined.heringestroomd * 100.0 / nullif(combined.afgesloten_met_follow_up, 0) as herinstroom_pct,
        combined.antwoorden_positief * 100.0 / nullif(combined.antwoorden, 0) as tevredenheid_pct
    from combined

),

with_change as (

    select
        {%- for measure in ['kosten_per_client', 'doelrealisatie_pct', 'uitval_pct', 'herinstroom_pct',
            'gemiddelde_duur_maanden', 'tevredenheid_pct'] %}
            rates.{{ measure }} - previous.{{ measure }} as {{ measure }}_verandering,
        {%- endfor %}
        rates.*
    from rates
    left join rates as previous
        on
            rates.wijk_code = previous.wijk_code
            and rates.domain = previous.domain
            and rates.year = previous.year + 1

),

final as (

    select
        with_change.year,
        wijken.gemeente_code,
        wijken.gemeente_name,
        with_change.wijk_code,
        wijken.area_name as wijk_name,
        with_change.domain as domein,
        with_change.clienten,
        with_change.kosten,
        with_change.kosten_per_client,
        with_change.afgesloten_trajecten,
        with_change.doel_bereikt,
        with_change.doel_beoordeeld,
        with_change.uitgevallen,
        with_change.afgesloten_met_follow_up,
        with_change.heringestroomd,
        with_change.respondenten,
        with_change.antwoorden,
        with_change.antwoorden_positief,
        with_change.doelrealisatie_pct,
        with_change.uitval_pct,
        with_change.herinstroom_pct,
        with_change.gemiddelde_duur_maanden,
        with_change.tevredenheid_pct,
        with_change.kosten_per_client_verandering,
        with_change.doelrealisatie_pct_verandering,
        with_change.uitval_pct_verandering,
        with_change.herinstroom_pct_verandering,
        with_change.gemiddelde_duur_maanden_verandering,
        with_change.tevredenheid_pct_verandering
    from with_change
    left join areas as wijken
        on
            with_change.wijk_code = wijken.area_code
            and with_change.year = wijken.year

)

select * from final
