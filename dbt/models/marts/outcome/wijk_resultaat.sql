with

clients as (

    select * from {{ ref('fct_clients_area_year') }}

),

episode_outcomes as (

    select * from {{ ref('care_episode_outcome') }}

),

survey as (

    select * from {{ ref('fct_survey_response') }}

),

active as (

    select
        year,
        area_code as wijk_code,
        domain,
        clients as clienten,
        cost as kosten
    from clients
    where area_level = 'wijk' and area_code is not null

),

ended as (

    select
        end_year as year,
        wijk_code,
        domain,
        {{ ended_episode_measures() }}
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
        {{ survey_measures('survey') }}
    from survey
    inner join episode_outcomes
        on survey.episode_key = episode_outcomes.episode_key
    where episode_outcomes.wijk_code is not null
    group by survey.year, episode_outcomes.wijk_code, survey.domain

),

rates as (

    {{ outcome_rates(['year', 'wijk_code', 'domain']) }}

),

with_change as (

    select
        {%- for measure in outcome_change_measures() %}
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
        {{ outcome_columns('with_change') }}
    from with_change
    {{ join_area_of_year('wijk', 'with_change') }}

)

select * from final
