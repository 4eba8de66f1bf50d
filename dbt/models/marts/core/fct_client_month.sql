{#-
    Incremental by delivered partition (macros/incremental.sql): one domain, gemeente and month,
    exactly one delivered file (raw period `<GMcode>:<yyyy-mm>`); a table built while its keys were
    text is rebuilt whole, once. `unique_key` is that partition: delete+insert replaces it whole.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['domain', 'gemeente_code', 'month'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ retype_column(this, 'cost', 'decimal(18, 2)') }}",
            "{{ retype_text_keys(this, ['client_key', 'household_key']) }}",
        ],
    )
}}
{%- set domains = ['jeugd', 'wmo', 'participatie'] %}

with

areas as (

    select * from {{ ref('dim_area') }}

),
{%- for domain in domains %}

    -- one row per delivered case of the domain per month
    {{ domain }} as (

        select * from {{ ref('stg_gemeente__' ~ domain) }}

    ),
{%- endfor %}

-- one row per delivered row's partition keys; read apart from the cases so that they are scanned
-- once and never held in memory
deliveries as (

    {{ gemeente_deliveries(domains, ['gemeente_code', 'period_key', 'batch_id']) }}

),

-- one row per delivered partition (domain, gemeente, month: one file) and its batch
delivered_partitions as (

    {{ delivered_partitions('deliveries', ['domain', 'gemeente_code']) }}

),

reference as (

    select max(reference_year) as reference_year
    from areas

),

-- the partitions to build: new or re-delivered, or all when the area division moved on
partitions as (

    {{ partitions_to_build('delivered_partitions') }}

),

{%- for domain in domains %}

    -- one row per delivered case of the domain per month, in the partitions to build
    {{ domain }}_cases as (

        {{ rows_in_partitions(domain, ['gemeente_code', 'period_key']) }}

    ),
{%- endfor %}

-- one row per client, domain, gemeente and month; the pseudonyms are the integer keys
-- (docs/architecture.md, "Keys"). Each domain is aggregated on its own: a client-month never
-- spans two domains, and three smaller aggregates are cheaper than one over their union.
client_months as (
    {%- for domain in domains %}

        select
            client_pseudonym as client_key,
            '{{ domain }}' as domain,
            gemeente_code,
            month,
            max(household_pseudonym) as household_key,
            max(wijk_code) as wijk_code,
            max(birth_year) as birth_year,
            count(*) as n_cases,
            sum(bedrag) as cost
        from {{ domain }}_cases
        group by client_pseudonym, gemeente_code, month
        {%- if not loop.last %}

            union all
        {%- endif %}
    {%- endfor %}

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
        -- the decimal a delivered amount has (a sum's own decimal(38, 2) is read ten times slower)
        cast(client_months.cost as decimal(18, 2)) as cost,
        partitions.batch_id,
        reference.reference_year,
        cast(current_timestamp as timestamp) as built_at
    from client_months
    inner join partitions
        on
            client_months.domain = partitions.domain
            and client_months.gemeente_code = partitions.gemeente_code
            and client_months.month = partitions.month
    cross join reference
    {{ join_area_of_month('gemeente', 'client_months') }}
    {{ join_area_of_month('wijk', 'client_months') }}

)

select * from final
