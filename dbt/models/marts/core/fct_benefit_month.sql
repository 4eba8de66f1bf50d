with

participatie as (

    select * from {{ ref('stg_gemeente__participatie') }}

),

harmonised as (

    select
        participatie.*,
        cast(extract(year from participatie.month) as integer) as year,
        coalesce(gemeenten.reference_gemeente_code, participatie.gemeente_code) as reference_gemeente_code,
        wijken.reference_area_code as reference_wijk_code
    from participatie
    {{ join_area_of_month('gemeente', 'participatie') }}
    {{ join_area_of_month('wijk', 'participatie') }}

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
        harmonised.bedrag as amount
    from harmonised

)

select * from final
