with

episodes as (

    select * from {{ ref('fct_care_episode') }}

),

-- the last delivered month in the warehouse: re-entry needs twelve months of follow-up after it
data_window as (

    select max(last_month) as last_month
    from episodes

),

-- whether the client started another episode in the same domain within twelve months of the end
reentries as (

    select
        ended.episode_key,
        max(case when later.episode_key is not null then 1 else 0 end) as has_reentry
    from episodes as ended
    left join episodes as later
        on
            ended.client_key = later.client_key
            and ended.domain = later.domain
            and ended.reference_gemeente_code = later.reference_gemeente_code
            and ended.end_date < later.start_date
            and ended.end_date + interval '12 months' >= later.start_date
    where ended.is_ended
    group by ended.episode_key

),

final as (

    select
        episodes.episode_key,
        episodes.domain,
        episodes.reference_gemeente_code,
        episodes.gemeente_code,
        episodes.wijk_code,
        episodes.agb_code,
        episodes.client_key,
        cast(extract(year from episodes.end_date) as integer) as end_year,
        episodes.goal_attained,
        episodes.is_dropout,
        episodes.end_date - episodes.start_date as duration_days,
        (episodes.end_date - episodes.start_date) / 30.4375 as duration_months,
        episodes.end_date + interval '12 months' <= data_window.last_month + interval '1 month'
            as has_follow_up,
        reentries.has_reentry = 1 as has_reentry
    from episodes
    cross join data_window
    inner join reentries
        on episodes.episode_key = reentries.episode_key

)

select * from final
