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

-- one row per episode per calendar year it was delivered in, with that year's share of its cost
-- (as an exact decimal, so a provider's sum is the same whatever order a parallel sum adds it in)
episode_years as (

    select
        episodes.episode_key,
        episodes.domain,
        episodes.reference_gemeente_code,
        episodes.agb_code,
        episodes.client_key,
        periods.year,
        cast(
            episodes.total_cost * (
                (
                    extract(year from least(episodes.last_month, periods.start_date + interval '11 months'))
                    - extract(year from greatest(episodes.first_month, periods.start_date))
                ) * 12
                + extract(month from least(episodes.last_month, periods.start_date + interval '11 months'))
                - extract(month from greatest(episodes.first_month, periods.start_date))
                + 1
            ) * 1.0 / episodes.n_months as decimal(38, 6)
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
        reference_gemeente_code as gemeente_code,
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
        reference_gemeente_code as gemeente_code,
        domain,
        agb_code,
        {{ ended_episode_measures() }}
    from episode_outcomes
    where agb_code is not null
    group by end_year, reference_gemeente_code, domain, agb_code

),

-- the tevredenheidscoëfficiënt: the share of answers that agree (4 or 5) on the standard questions
satisfaction as (

    select
        year,
        reference_gemeente_code as gemeente_code,
        domain,
        agb_code,
        {{ survey_measures() }}
    from survey
    where agb_code is not null
    group by year, reference_gemeente_code, domain, agb_code

),

rates as (

    {{ outcome_rates(['year', 'gemeente_code', 'domain', 'agb_code']) }}

),

with_change as (

    select
        {%- for measure in outcome_change_measures() %}
            rates.{{ measure }} - lag(rates.{{ measure }}) over (
                partition by rates.gemeente_code, rates.domain, rates.agb_code order by rates.year
            ) as {{ measure }}_verandering,
        {%- endfor %}
        rates.*
    from rates

),

-- the reference-year name of the gemeente (through mergers)
gemeente_names as (

    {{ latest_area_attributes('gemeente') }}

),

final as (

    select
        with_change.year,
        with_change.gemeente_code,
        gemeente_names.area_name as gemeente_name,
        with_change.domain as domein,
        with_change.agb_code as aanbieder_code,
        providers.provider_name as aanbieder_naam,
        {{ outcome_columns('with_change') }}
    from with_change
    left join gemeente_names
        on with_change.gemeente_code = gemeente_names.area_code
    left join providers
        on with_change.agb_code = providers.agb_code

)

select * from final
