{#-
    Incremental by episode (docs/architecture.md, "Incremental builds"): when the client-month
    partitions (`fct_client_month`, jeugd and wmo) built since this table was are months after
    every month built in their gemeente, their rows are added to the episodes they continue or
    start (`episode_build`); otherwise (a re-delivered, withdrawn or late month) the pre-hook
    empties the table and every episode is built from every delivered month.
-#}
{{
    config(
        materialized='incremental',
        unique_key='episode_key',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook="{{ empty_unless_appended(['jeugd', 'wmo'], ['client_key', 'household_key']) }}",
    )
}}
{%- set build = episode_build(['jeugd', 'wmo'], ['client_key', 'household_key']) %}
{%- set append = build.mode == 'append' %}

with

-- one row per episode per delivered month, both domains in one shape
care_months as not materialized (

    {{ gemeente_deliveries(
        ['jeugd', 'wmo'],
        ['gemeente_code', 'period_key', 'month', 'episode_id', 'client_pseudonym', 'household_pseudonym',
            'buurt_code', 'wijk_code', 'birth_year', 'sex', 'productcategorie_code', 'productcode',
            'leveringsvorm', 'verwijzer_code', 'agb_code', 'start_date', 'end_date', 'reden_beeindiging',
            'doel_bereikt', 'volume', 'bedrag'],
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
harmonised as not materialized (

    select
        care_months.*,
        coalesce(gemeenten.reference_gemeente_code, care_months.gemeente_code) as reference_gemeente_code
    from care_months
    {{ join_area_of_month('gemeente', 'care_months') }}

),

-- the rows to build from: every delivered month, or those of the client-month partitions built
-- since this table was, when they come after every month built (read twice, for totals and last
-- month: a whole build scans the deliveries again rather than hold every delivered month in
-- memory; new months are held). Joined on the period as delivered, so that DuckDB reads only the
-- row groups of the periods built since (macros/incremental.sql, rows_in_partitions).
{%- if append %}

new_partitions as (

    {{ client_month_partitions(['jeugd', 'wmo'], build.since) }}

),
{%- endif %}

episode_rows as {{ 'materialized' if append else 'not materialized' }} (

    select harmonised.*
    from harmonised
    {%- if append %}
        inner join (select distinct gemeente_code, period_key from new_partitions) as partition_keys
            on
                harmonised.gemeente_code = partition_keys.gemeente_code
                and harmonised.period_key = partition_keys.period_key
        -- the partition itself, by one key: joined on the domain (a constant per delivery), DuckDB
        -- would read every row group again
        where harmonised.domain || '|' || harmonised.gemeente_code || '|' || harmonised.period_key in (
            select domain || '|' || gemeente_code || '|' || period_key from new_partitions
        )
    {%- endif %}

),

input_rows as (

    select ({{ count_client_months() }}) as input_rows

),

-- an episode's span and totals over the months read
delivered as (

    select
        domain,
        reference_gemeente_code,
        episode_id,
        min(month) as first_month,
        max(month) as last_month,
        count(*) as n_months,
        -- the decimal a delivered amount has (a sum's own decimal(38, 2) is read ten times slower)
        cast(sum(volume) as decimal(18, 2)) as total_volume,
        cast(sum(bedrag) as decimal(18, 2)) as total_cost
    from episode_rows
    group by domain, reference_gemeente_code, episode_id

),

-- over all its months: a new month adds to what the episode was built up to
episodes as (

    {%- if append %}
        select
            delivered.domain,
            delivered.reference_gemeente_code,
            delivered.episode_id,
            coalesce(built.first_month, delivered.first_month) as first_month,
            delivered.last_month,
            coalesce(built.n_months, 0) + delivered.n_months as n_months,
            cast(coalesce(built.total_volume, 0) + delivered.total_volume as decimal(18, 2)) as total_volume,
            cast(coalesce(built.total_cost, 0) + delivered.total_cost as decimal(18, 2)) as total_cost
        from delivered
        left join {{ this }} as built
            on
                delivered.domain = built.domain
                and delivered.reference_gemeente_code = built.reference_gemeente_code
                and delivered.episode_id = built.episode_id
    {%- else %}
        select * from delivered
    {%- endif %}

),

-- attributes as delivered in the episode's last month (one row: the deliveries' contract allows
-- an episode number once per file, and unique_combination guards it)
latest as (

    select
        episode_rows.*,
        episodes.first_month,
        episodes.last_month,
        episodes.n_months,
        episodes.total_volume,
        episodes.total_cost
    from episode_rows
    inner join episodes
        on
            episode_rows.domain = episodes.domain
            and episode_rows.reference_gemeente_code = episodes.reference_gemeente_code
            and episode_rows.episode_id = episodes.episode_id
            and episode_rows.month = episodes.last_month

),

final as (

    select
        md5(
            latest.domain || '|' || latest.reference_gemeente_code || '|' || latest.episode_id
        ) as episode_key,
        latest.domain,
        latest.episode_id,
        latest.gemeente_code,
        latest.reference_gemeente_code,
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
        latest.total_cost,
        input_rows.input_rows,
        cast(current_timestamp as timestamp) as built_at
    from latest
    cross join input_rows
    {{ join_area_of_month('wijk', 'latest') }}

)

select * from final
