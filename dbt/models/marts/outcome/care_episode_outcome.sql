{#-
    Incremental by episode (docs/architecture.md, "Incremental builds"): when a new month added to
    some episodes, a run builds again the ended episodes of every client with an episode built
    since (one can be another's re-entry) and those whose twelve months of follow-up the delivered
    months now cover; when every episode was built again, so is every row.
-#}
{{
    config(
        materialized='incremental',
        unique_key='episode_key',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook="{{ remove_episodes_to_build(['client_key']) }}",
    )
}}
{%- set build = episodes_build(['client_key']) %}

with

episodes as not materialized (

    select * from {{ ref('fct_care_episode') }}

),

-- the last delivered month in the warehouse: re-entry needs twelve months of follow-up after it
data_window as (

    select max(last_month) as last_month
    from episodes

),
{%- if build.mode == 'append' %}

touched_clients as (

    select distinct
        client_key,
        domain,
        reference_gemeente_code
    from episodes
    where built_at > cast('{{ build.since }}' as timestamp)

),

followed_up as (

    select built.episode_key
    from {{ this }} as built
    cross join data_window
    where
        not built.has_follow_up
        and built.end_date + interval '12 months' <= data_window.last_month + interval '1 month'

),

keys_to_build as (

    select episodes.episode_key
    from episodes
    inner join touched_clients
        on
            episodes.client_key = touched_clients.client_key
            and episodes.domain = touched_clients.domain
            and episodes.reference_gemeente_code = touched_clients.reference_gemeente_code

    union

    select followed_up.episode_key
    from followed_up

),
{%- endif %}

-- the ended episodes to build: every one, or those of the clients with an episode built since and
-- those newly followed up
to_build as {{ 'materialized' if build.mode == 'append' else 'not materialized' }} (

    select episodes.*
    from episodes
    where
        {%- if build.mode == 'append' %}
            episodes.is_ended
            and episodes.episode_key in (select keys_to_build.episode_key from keys_to_build)
        {%- else %}
            episodes.is_ended
        {%- endif %}

),

-- every episode of the clients built: where a re-entry can be
candidates as (

    select episodes.*
    from episodes
    {%- if build.mode == 'append' %}
        inner join (
            select distinct
                client_key,
                domain,
                reference_gemeente_code
            from to_build
        ) as clients_built
            on
                episodes.client_key = clients_built.client_key
                and episodes.domain = clients_built.domain
                and episodes.reference_gemeente_code = clients_built.reference_gemeente_code
    {%- endif %}

),

-- the episodes after which the client started another in the same domain within twelve months of
-- the end: a semi join (an exists in the select list is a subquery per row on PostgreSQL)
reentered as (

    select to_build.episode_key
    from to_build
    where exists (
        select 1
        from candidates as later
        where
            later.client_key = to_build.client_key
            and later.domain = to_build.domain
            and later.reference_gemeente_code = to_build.reference_gemeente_code
            and later.start_date > to_build.end_date
            and later.start_date <= to_build.end_date + interval '12 months'
    )

),

final as (

    select
        to_build.episode_key,
        to_build.domain,
        to_build.reference_gemeente_code,
        to_build.gemeente_code,
        to_build.wijk_code,
        to_build.agb_code,
        to_build.client_key,
        cast(extract(year from to_build.end_date) as integer) as end_year,
        to_build.goal_attained,
        to_build.is_dropout,
        to_build.end_date,
        to_build.end_date - to_build.start_date as duration_days,
        (to_build.end_date - to_build.start_date) / 30.4375 as duration_months,
        to_build.end_date + interval '12 months' <= data_window.last_month + interval '1 month'
            as has_follow_up,
        reentered.episode_key is not null as has_reentry,
        cast(current_timestamp as timestamp) as built_at
    from to_build
    cross join data_window
    left join reentered
        on to_build.episode_key = reentered.episode_key

)

select * from final
