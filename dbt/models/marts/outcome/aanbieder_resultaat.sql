with

episodes as (

    select * from {{ ref('fct_care_episode') }}

),

survey as (

    select * from {{ ref('fct_survey_response') }}

),

episode_outcomes as (

    select * from {{ ref('care_episode_outcome') }}

),

periods as (

    select * from {{ ref('dim_period') }}

),

providers as (

    select * from {{ ref('dim_provider') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

-- one row per episode per calendar year it was delivered in, with that year's share of its cost
episode_years as (

    select
        episodes.episode_key,
        episodes.domain,
        episodes.reference_gemeente_code,
        episodes.agb_code,
        episodes.client_key,
        periods.year,
        episodes.total_cost * (
            (
                (
                    extract(year from least(episodes.last_month, periods.start_date + interval '11 months'))
                    - extract(year from greatest(episodes.first_month, periods.start_date))
                ) * 12
                + extract(month from least(episodes.last_month, periods.start_date + interval '11 months'))
                - extract(month from greatest(episodes.first_month, periods.start_date))
                + 1
            ) * 1.0 / episodes.n_months
        ) as cost_in_year
    from episodes
    inner join periods
        on
            periods.period_type = 'year'
            and episodes.first_month <= periods.end_date
            and episodes.last_month >= periods.start_date
    where episodes.agb_code is not null

),

active as (

    select
        year,
        reference_gemeente_code,
        domain,
        agb_code,
        count(distinct client_key) as clienten,
        sum(cost_in_year) as kosten
    from episode_years
    group by year, reference_gemeente_code, domain, agb_code

),

ended as (

    select
        end_year as year,
        reference_gemeente_code,
        domain,
        agb_code,
        count(*) as afgesloten_trajecten,
        sum(case when goal_attained then 1 else 0 end) as doel_bereikt,
        sum(case when goal_attained is not null then 1 else 0 end) as doel_beoordeeld,
        sum(case when is_dropout then 1 else 0 end) as uitgevallen,
        sum(case when has_follow_up then 1 else 0 end) as afgesloten_met_follow_up,
        sum(case when has_follow_up and has_reentry then 1 else 0 end) as heringestroomd,
        avg(duration_months) as gemiddelde_duur_maanden
    from episode_outcomes
    where agb_code is not null
    group by end_year, reference_gemeente_code, domain, agb_code

),

-- the tevredenheidscoëfficiënt: the share of answers that agree (4 or 5) on the standard questions
satisfaction as (

    select
        year,
        reference_gemeente_code,
        domain,
        agb_code,
        count(distinct respondent_id) as respondenten,
        count(*) as antwoorden,
        sum(case when antwoord >= 4 then 1 else 0 end) as antwoorden_positief
    from survey
    where agb_code is not null
    group by year, reference_gemeente_code, domain, agb_code

),

combined as (

    select
        active.year,
        active.reference_gemeente_code as gemeente_code,
        active.domain,
        active.agb_code,
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
            and active.reference_gemeente_code = ended.reference_gemeente_code
            and active.domain = ended.domain
            and active.agb_code = ended.agb_code
    left join satisfaction
        on
            active.year = satisfaction.year
            and active.reference_gemeente_code = satisfaction.reference_gemeente_code
            and active.domain = satisfaction.domain
            and active.agb_code = satisfaction.agb_code

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
            rates.{{ measure }} - lag(rates.{{ measure }}) over (
                partition by rates.gemeente_code, rates.domain, rates.agb_code order by rates.year
            ) as {{ measure }}_verandering,
        {%- endfor %}
        rates.*
    from rates

),

-- the reference-year name of the gemeente (through mergers)
gemeente_names as (

    select
        area_code,
        area_name,
        row_number() over (partition by area_code order by year desc) as recency
    from areas
    where area_level = 'gemeente'

),

final as (

    select
        with_change.year,
        with_change.gemeente_code,
        gemeente_names.area_name as gemeente_name,
        with_change.domain as domein,
        with_change.agb_code as aanbieder_code,
        providers.provider_name as aanbieder_naam,
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
    left join gemeente_names
        on
            with_change.gemeente_code = gemeente_names.area_code
            and gemeente_names.recency = 1
    left join providers
        on with_change.agb_code = providers.agb_code

)

select * from final
