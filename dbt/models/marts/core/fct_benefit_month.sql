{#-
    Incremental by delivered partition (macros/incremental.sql): a gemeente's month, one
    delivered file. `unique_key` is that partition: delete+insert replaces it whole; a table built
    while its person keys were text is rebuilt whole, once.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['gemeente_code', 'month'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook="{{ retype_text_keys(this, ['client_key', 'household_key']) }}",
    )
}}

with

-- read twice (partitions, rows): not materialized, since holding every delivered row in memory
-- costs more than scanning the deliveries again
participatie as not materialized (

    select * from {{ ref('stg_gemeente__participatie') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

-- one row per delivered partition (gemeente and month: one file) and its batch
delivered_partitions as (

    {{ delivered_partitions('participatie', ['gemeente_code']) }}

),

reference as (

    select max(reference_year) as reference_year
    from areas

),

-- the partitions to build: new or re-delivered, or all when the area division moved on
partitions as (

    {{ partitions_to_build('delivered_partitions') }}

),

new_benefit_months as (

    {{ rows_in_partitions('participatie', ['gemeente_code', 'period_key']) }}

),

harmonised as (

    select
        new_benefit_months.*,
        cast(extract(year from new_benefit_months.month) as integer) as year,
        coalesce(gemeenten.reference_gemeente_code, new_benefit_months.gemeente_code)
            as reference_gemeente_code,
        wijken.reference_area_code as reference_wijk_code
    from new_benefit_months
    {{ join_area_of_month('gemeente', 'new_benefit_months') }}
    {{ join_area_of_month('wijk', 'new_benefit_months') }}

),

final as (

    select
        md5('participatie|' || harmonised.reference_gemeente_code || '|' || harmonised.uitkering_id)
            as benefit_key,
        harmonised.uitkering_id,
        harmonised.gemeente_code,
        harmonised.reference_gemeente_code,
        harmonised.month,
        {{ period_key('harmonised.month') }} as period_key,
        -- the keys of fct_client_month (docs/architecture.md, "Keys")
        harmonised.client_pseudonym as client_key,
        harmonised.household_pseudonym as household_key,
        harmonised.buurt_code,
        harmonised.wijk_code,
        harmonised.reference_wijk_code,
        harmonised.birth_year,
        harmonised.sex,
        harmonised.year - harmonised.birth_year as age,
        {{ age_group_code('harmonised.year - harmonised.birth_year') }} as age_group_code,
        'participatie|' || harmonised.regeling as service_key,
        harmonised.regeling,
        harmonised.leefvorm,
        harmonised.start_date,
        harmonised.end_date,
        harmonised.reden_beeindiging,
        harmonised.month = cast(
            {{ dbt.date_trunc('month', 'harmonised.start_date') }} as date
        ) as is_first_month,
        harmonised.end_date is not null as is_last_month,
        harmonised.bedrag as amount,
        partitions.batch_id,
        reference.reference_year,
        cast(current_timestamp as timestamp) as built_at
    from harmonised
    inner join partitions
        on
            harmonised.gemeente_code = partitions.gemeente_code
            and harmonised.month = partitions.month
    cross join reference

)

select * from final
