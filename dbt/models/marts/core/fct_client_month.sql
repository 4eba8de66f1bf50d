{#-
    Incremental by delivered partition: a partition is one domain, gemeente and month, which is
    exactly one delivered file (raw period `<GMcode>:<yyyy-mm>`). A run rebuilds the partitions
    whose delivery batch is new or changed (a new month, a corrected re-delivery) and, when the
    reference year of the area division moved on, every partition, because the harmonised codes
    change with it (and, once, every partition of a table built before batches were tracked).
    `unique_key` is that partition: delete+insert replaces it whole.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['domain', 'gemeente_code', 'month'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
{#- a table built before partitions were tracked (no batch_id) is rebuilt whole, once -#}
{%- set tracked = is_incremental() and 'batch_id' in (
    adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list
) %}

with

areas as (

    select * from {{ ref('dim_area') }}

),

-- one row per delivered case per month, the three domains in one shape
case_months as (

    {{ gemeente_deliveries(
        ['jeugd', 'wmo', 'participatie'],
        ['gemeente_code', 'month', 'client_pseudonym', 'household_pseudonym', 'wijk_code', 'birth_year',
            'bedrag', 'batch_id'],
    ) }}

),

reference as (

    select max(reference_year) as reference_year
    from areas

),

{% if is_incremental() %}

    -- partitions already built from the same delivery against the same area division
    built_partitions as (

        {% if tracked -%}
            select distinct
                built.domain,
                built.gemeente_code,
                built.month,
                built.batch_id
            from {{ this }} as built
            inner join reference
                on built.reference_year = reference.reference_year
        {%- else -%}
            select
                built.domain,
                built.gemeente_code,
                built.month,
                cast(null as varchar) as batch_id
            from {{ this }} as built
            where 1 = 0
        {%- endif %}

    ),

    changed_partitions as (

        select distinct
            case_months.domain,
            case_months.gemeente_code,
            case_months.month
        from case_months
        left join built_partitions
            on
                case_months.domain = built_partitions.domain
                and case_months.gemeente_code = built_partitions.gemeente_code
                and case_months.month = built_partitions.month
                and case_months.batch_id = built_partitions.batch_id
        where built_partitions.batch_id is null

    ),

    new_case_months as (

        select case_months.*
        from case_months
        inner join changed_partitions
            on
                case_months.domain = changed_partitions.domain
                and case_months.gemeente_code = changed_partitions.gemeente_code
                and case_months.month = changed_partitions.month

    ),

{% else %}

    new_case_months as (

        select * from case_months

    ),

{% endif %}

client_months as (

    select
        client_pseudonym as client_key,
        domain,
        gemeente_code,
        month,
        max(household_pseudonym) as household_key,
        max(wijk_code) as wijk_code,
        max(birth_year) as birth_year,
        count(*) as n_cases,
        sum(bedrag) as cost,
        max(batch_id) as batch_id
    from new_case_months
    group by client_pseudonym, domain, gemeente_code, month

),

final as (

    select
        client_months.client_key,
        client_months.domain,
        client_months.gemeente_code,
        client_months.month,
        {{ period_key('client_months.month') }} as period_key,
        coalesce(gemeenten.reference_gemeente_code, client_months.gemeente_code) as reference_gemeente_code,
        client_months.household_key,
        client_months.wijk_code,
        wijken.reference_area_code as reference_wijk_code,
        {{ year_of('client_months.month') }} - client_months.birth_year as age,
        {{ age_group_code(year_of('client_months.month') ~ ' - client_months.birth_year') }}
            as age_group_code,
        client_months.n_cases,
        client_months.cost,
        client_months.batch_id,
        reference.reference_year,
        cast(current_timestamp as timestamp) as built_at
    from client_months
    cross join reference
    {{ join_area_of_month('gemeente', 'client_months') }}
    {{ join_area_of_month('wijk', 'client_months') }}

)

select * from final
