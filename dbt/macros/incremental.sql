{#-
    Facts built incrementally by delivered partition (docs/architecture.md, "Incremental builds"):
    a partition is what one delivered file holds (a gemeente's month of a domain), known by its
    batch. A run builds the partitions whose batch is new or re-delivered, and every partition
    when the reference year of the area division moved on (the harmonised codes change with it).
    The model keeps `batch_id` and `reference_year` in its rows to tell what it built from.
-#}


{#- Whether this run builds on a table that tells what it was built from in `column`: false on a
    full build and on a table made before the column was (which is then built whole, once). -#}
{% macro built_with(column) -%}
    {{ return(is_incremental() and column in (
        adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list
    )) }}
{%- endmacro %}


{#- One row per delivered partition of `relation` (its `keys` and the period as delivered) and its
    batch: grouped by the period as delivered, the month made of it once per partition instead of
    once per delivered row. A body of a CTE, what `partitions_to_build` reads. -#}
{% macro delivered_partitions(relation, keys) -%}
    select
        {%- for key in keys %}
            {{ key }},
        {%- endfor %}
        period_key,
        {{ month_of_period('period_key') }} as month,
        batch_id
    from (
        select
            {%- for key in keys %}
                {{ key }},
            {%- endfor %}
            period_key,
            max(batch_id) as batch_id
        from {{ relation }}
        group by {{ keys | join(', ') }}, period_key
    ) as partitions
{%- endmacro %}


{#-
    The partitions of the CTE `delivered` (one row per partition, with its `batch_id`) that this
    model has not built from the same batch against the reference year of the CTE `reference`:
    all of them on a full build, and once on a table built before batches were tracked. A batch
    is one delivered file, and a file one partition, so the batches built tell the partitions
    built (a distinct of one column instead of every key over the whole fact). A body of a CTE.
-#}
{% macro partitions_to_build(delivered) -%}
    {%- set tracked = built_with('batch_id') -%}
    select {{ delivered }}.*
    from {{ delivered }}
    {%- if tracked %}
        left join (
            select distinct built.batch_id
            from {{ this }} as built
            inner join reference
                on built.reference_year = reference.reference_year
        ) as built_batches
            on {{ delivered }}.batch_id = built_batches.batch_id
        where built_batches.batch_id is null
    {%- endif %}
{%- endmacro %}


{#- The rows of `relation` in the partitions of the CTE `partitions`, or in other partitions with
    the same `keys` (the partition's keys as delivered, without the domain a union of deliveries
    adds): DuckDB then skips the row groups of the delivered periods not built, which it does not
    for a month computed from the period or a domain that is a constant per delivery. A body of a
    CTE; what reads it joins the partitions on every key. -#}
{% macro rows_in_partitions(relation, keys) -%}
    select {{ relation }}.*
    from {{ relation }}
    {%- if is_incremental() %}
        inner join (select distinct {{ keys | join(', ') }} from partitions) as partition_keys
            on
                {%- for key in keys %}
                    {{ relation }}.{{ key }} = partition_keys.{{ key }}{{ ' and' if not loop.last }}
                {%- endfor %}
    {%- endif %}
{%- endmacro %}


{#-
    The years of `fct_client_month` a model built by year has to build: every year on a full build,
    otherwise the years whose client-months changed since (in number, or in the latest time one of
    them was built), told by the model's `input_rows` and `input_built_at`. A body of a CTE: year,
    input_rows, input_built_at.
-#}
{% macro years_to_build() -%}
    {%- set tracked = built_with('input_built_at') -%}
    select year_inputs.*
    from (
        select
            {{ year_of('month') }} as year,
            count(*) as input_rows,
            max(built_at) as input_built_at
        from {{ ref('fct_client_month') }}
        group by {{ year_of('month') }}
    ) as year_inputs
    {%- if tracked %}
        left join (
            select distinct
                year,
                input_rows,
                input_built_at
            from {{ this }}
        ) as built_years
            on
                year_inputs.year = built_years.year
                and year_inputs.input_rows = built_years.input_rows
                and year_inputs.input_built_at = built_years.input_built_at
        where built_years.year is null
    {%- endif %}
{%- endmacro %}


{#- A post-hook of a model built by year: the years no client-month is left of are deleted. -#}
{% macro delete_years_without_client_months() -%}
    delete from {{ this }}
    where year not in (select distinct {{ year_of('month') }} from {{ ref('fct_client_month') }})
{%- endmacro %}


{#- The client-month partitions of `domains` built after `since` (a time as text, written out so
    that DuckDB reads only the row groups built since): a body of a CTE. -#}
{% macro client_month_partitions(domains, since) -%}
    select distinct
        domain,
        gemeente_code,
        period_key,
        reference_gemeente_code,
        month
    from {{ ref('fct_client_month') }}
    where
        domain in ('{{ domains | join("', '") }}')
        and built_at > cast('{{ since }}' as timestamp)
{%- endmacro %}


{#- How many client-months there are, of every domain (built up to `until`, if given). A row is
    only ever added with a later `built_at`, so fewer up to a time than were counted at that time
    means some were removed since. Counted without a filter on the domain, DuckDB answers from the
    statistics of its row groups instead of reading tens of millions of rows. -#}
{% macro count_client_months(until=none) -%}
    select count(*)
    from {{ ref('fct_client_month') }}
    {%- if until %}
        where built_at <= cast('{{ until }}' as timestamp)
    {%- endif %}
{%- endmacro %}


{#-
    How a model built by episode from the client-month partitions of `domains` is built in this
    run: `{'mode': 'append', 'since': <when the table was built>}` when every partition built since
    is a month after the last its episodes were built up to in that gemeente (an episode's new row
    is then its last, and its totals add up), else `{'mode': 'whole'}`: a partition it was built
    from is not there as it was (re-delivered, withdrawn, or all built again on a new reference
    year: fewer client-months are older than the table than it was built against; a withdrawn
    month of another domain counts too, which only costs a whole build), a month came late, or
    the table was built before it counted them. Asked when the model compiles and again by its
    pre-hook, before either changed anything. Also whole when the person `keys` of the table are
    still text (they are integers now).
-#}
{% macro episode_build(domains, keys) -%}
    {%- if not is_incremental() or not execute or not built_with('input_rows') or text_keys(this, keys) -%}
        {{ return({'mode': 'whole'}) }}
    {%- endif -%}
    {%- set since = run_query('select cast(max(built_at) as varchar(40)) from ' ~ this).rows[0][0] -%}
    {%- if since is none -%}
        {{ return({'mode': 'whole'}) }}
    {%- endif -%}
    {%- set query -%}
        with

        partitions as (
            {{ client_month_partitions(domains, since) }}
        ),

        built_up_to as (
            select
                domain,
                reference_gemeente_code,
                max(last_month) as last_month
            from {{ this }}
            group by domain, reference_gemeente_code
        )

        select
            ({{ count_client_months(since) }}) = (
                select max(input_rows) from {{ this }}
                where built_at = cast('{{ since }}' as timestamp)
            ),
            (
                select coalesce(bool_and(built_up_to.last_month is null or partitions.month > built_up_to.last_month), true)
                from partitions
                left join built_up_to
                    on
                        partitions.domain = built_up_to.domain
                        and partitions.reference_gemeente_code = built_up_to.reference_gemeente_code
            )
    {%- endset -%}
    {%- set unchanged, later = run_query(query).rows[0] -%}
    {{ return({'mode': 'append', 'since': since} if unchanged and later else {'mode': 'whole'}) }}
{%- endmacro %}


{#- The pre-hook of such a model: emptied when it is built whole (the columns that tell and the
    person keys first: DuckDB cannot alter a table it deleted from in the same transaction). -#}
{% macro empty_unless_appended(domains, keys) -%}
    {%- if is_incremental() and episode_build(domains, keys).mode == 'whole' -%}
        alter table {{ this }} add column if not exists input_rows bigint;
        alter table {{ this }} drop column if exists input_partitions;
        alter table {{ this }} add column if not exists built_at timestamp;
        {{ retype_keys(this, keys) }}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}


{#-
    delete+insert on DuckDB: the adapter's own version deletes by joining every new row to the
    table, so each row of a replaced partition matched once per new row of it (a month re-delivered
    nationally: hundreds of millions of pairs; `fct_client_month` took 54 s instead of 26 s). The
    replaced keys are taken once each instead, as dbt does on PostgreSQL.
-#}
{% macro duckdb__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set dest_cols_csv = get_quoted_csv(dest_columns | map(attribute='name')) -%}
    {%- if keys %}
        delete from {{ target }} as dbt_incremental_target
        using (select distinct {{ keys | join(', ') }} from {{ source }}) as replaced
        where
            {%- for key in keys %}
                {{ 'and ' if not loop.first }}replaced.{{ key }} = dbt_incremental_target.{{ key }}
            {%- endfor %}
            {%- for predicate in incremental_predicates or [] %}
                and {{ predicate }}
            {%- endfor %};
    {%- endif %}

    insert into {{ target }} ({{ dest_cols_csv }})
    (
        select {{ dest_cols_csv }}
        from {{ source }}
    )
{%- endmacro %}


{#-
    How a model built from the episodes of `fct_care_episode` is built in this run:
    `{'mode': 'append', 'since': <when the table was built>}` when only some episodes were built
    since (a new month added to them), else `{'mode': 'whole'}`: every episode was built again
    (re-delivered or withdrawn months), or the table was made before it noted when a row was built
    and when its episode ended, or with the person `keys` as text.
-#}
{% macro episodes_build(keys) -%}
    {%- if not is_incremental() or not execute or not built_with('built_at') or not built_with('end_date')
        or text_keys(this, keys) -%}
        {{ return({'mode': 'whole'}) }}
    {%- endif -%}
    {%- set query -%}
        select cast(built.since as varchar(40)), episodes.first_built > built.since
        from (select max(built_at) as since from {{ this }}) as built
        cross join (select min(built_at) as first_built from {{ ref('fct_care_episode') }}) as episodes
    {%- endset -%}
    {%- set since, all_built_again = run_query(query).rows[0] -%}
    {{ return({'mode': 'append', 'since': since} if since is not none and not all_built_again else {'mode': 'whole'}) }}
{%- endmacro %}


{#- Its pre-hook: emptied when built whole, else without the episodes built since that have not
    ended (an episode that went on). -#}
{% macro remove_episodes_to_build(keys) -%}
    {%- if is_incremental() -%}
        {%- set build = episodes_build(keys) -%}
        {%- if build.mode == 'whole' -%}
            alter table {{ this }} add column if not exists built_at timestamp;
            alter table {{ this }} add column if not exists end_date date;
            {{ retype_keys(this, keys) }}
            delete from {{ this }}
        {%- else -%}
            delete from {{ this }}
            where episode_key in (
                select episode_key from {{ ref('fct_care_episode') }}
                where built_at > cast('{{ build.since }}' as timestamp) and not is_ended
            )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
