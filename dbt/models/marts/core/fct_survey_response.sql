with

clientervaring as (

    select * from {{ ref('stg_gemeente__clientervaring') }}

),

harmonised as (

    select
        clientervaring.*,
        coalesce(gemeenten.reference_gemeente_code, clientervaring.gemeente_code) as reference_gemeente_code
    from clientervaring
    {{ join_area_of_year('gemeente', 'clientervaring') }}

),

final as (

    select
        gemeente_code,
        reference_gemeente_code,
        year,
        cast(year as varchar) as period_key,
        respondent_id,
        vraag_code,
        domain,
        traject_id as episode_id,
        -- the same key as fct_care_episode, so answers join to the trajectory they are about
        case
            when traject_id is not null
                then md5(domain || '|' || reference_gemeente_code || '|' || traject_id)
        end as episode_key,
        agb_code,
        vraag_tekst,
        antwoord
    from harmonised

)

select * from final
