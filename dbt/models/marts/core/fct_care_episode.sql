with

-- one row per episode per delivered month, both domains in one shape
care_months as (

    {{ gemeente_deliveries(
        ['jeugd', 'wmo'],
        ['gemeente_code', 'month', 'episode_id', 'client_pseudonym', 'household_pseudonym', 'buurt_code',
            'wijk_code', 'birth_year', 'sex', 'productcategorie_code', 'productcode', 'leveringsvorm',
            'verwijzer_code', 'agb_code', 'start_date', 'end_date', 'reden_beeindiging', 'doel_bereikt',
            'volume', 'bedrag'],
        {
            'jeugd': {'episode_id': 'traject_id', 'leveringsvorm': 'cast(null as varchar)'},
            'wmo': {
                'episode_id': 'voorziening_id',
                'verwijzer_code': 'cast(null as varchar)',
                'doel_bereikt': 'cast(null as boolean)',
            },
        },
    ) }}

),

-- the gemeente of the reference year, so an episode keeps one key through a merger
harmonised as (

    select
        care_months.*,
        gemeenten.reference_gemeente_code
    from care_months
    {{ join_area_of_month('gemeente', 'care_months') }}

),

-- every delivered month of an episode, with the episode's totals beside it
ranked as (

    select
        harmonised.*,
        row_number() over (episode order by harmonised.month desc) as recency,
        min(harmonised.month) over episode as first_month,
        max(harmonised.month) over episode as last_month,
        count(*) over episode as n_months,
        sum(harmonised.volume) over episode as total_volume,
        sum(harmonised.bedrag) over episode as total_cost
    from harmonised
    window episode as (
        partition by harmonised.domain, harmonised.reference_gemeente_code, harmonised.episode_id
    )

),

-- attributes as delivered in the episode's last month
latest as (

    select * from ranked
    where recency = 1

),

final as (

    select
        md5(
            latest.domain || '|' || coalesce(latest.reference_gemeente_code, latest.gemeente_code) || '|'
            || latest.episode_id
        ) as episode_key,
        latest.domain,
        latest.episode_id,
        latest.gemeente_code,
        coalesce(latest.reference_gemeente_code, latest.gemeente_code) as reference_gemeente_code,
        latest.client_pseudonym as client_key,
        latest.household_pseudonym as household_key,
        latest.buurt_code,
        latest.wijk_code,
        wijken.reference_area_code as reference_wijk_code,
        latest.birth_year,
        latest.sex,
        cast(extract(year from latest.start_date) as integer) - latest.birth_year as age_at_start,
        {{ age_group_code('cast(extract(year from latest.start_date) as integer) - latest.birth_year') }}
            as age_group_code,
        latest.domain || '|' || latest.productcategorie_code as service_key,
        latest.productcategorie_code,
        latest.productcode,
        latest.leveringsvorm,
        latest.verwijzer_code,
        latest.agb_code,
        latest.start_date,
        latest.end_date,
        latest.first_month,
        latest.last_month,
        latest.n_months,
        latest.reden_beeindiging,
        latest.doel_bereikt as goal_attained,
        latest.end_date is not null as is_ended,
        coalesce(latest.reden_beeindiging = 'voortijdig afgebroken', false) as is_dropout,
        latest.total_volume,
        latest.total_cost
    from latest
    {{ join_area_of_month('wijk', 'latest') }}

)

select * from final
