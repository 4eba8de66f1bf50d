{{ config(alias='populatiebekostiging') }}

with

funding as (

    select * from {{ source('analytics', 'population_funding') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

-- primary suppression: the wijk's clients in the domain are below the threshold
primary_flags as (

    select
        funding.*,
        (funding.clienten is null or funding.clienten < {{ var('suppression_threshold') }}) as is_primary
    from funding

),

-- complementary suppression: one hidden wijk could be recovered from the gemeente's realisation
ranked as (

    select
        primary_flags.*,
        sum(case when primary_flags.is_primary then 1 else 0 end) over (
            partition by primary_flags.year, primary_flags.gemeente_code, primary_flags.domein
        ) as n_primary,
        row_number() over (
            partition by
                primary_flags.year,
                primary_flags.gemeente_code,
                primary_flags.domein,
                primary_flags.is_primary
            order by primary_flags.clienten asc, primary_flags.wijk_code asc
        ) as rank_in_kind
    from primary_flags

),

final as (

    select
        ranked.year,
        ranked.gemeente_code,
        areas.gemeente_name,
        ranked.wijk_code,
        areas.area_name as wijk_name,
        ranked.domein,
        ranked.verwachte_behoefte_aandeel,
        ranked.behoefte_aandeel,
        ranked.inwoners_aandeel,
        {{ round_half_away('ranked.budget_gemeente') }} as budget_gemeente,
        {{ round_half_away('ranked.budget_toegewezen') }} as budget_toegewezen,
        case
            when not (ranked.is_primary or (ranked.n_primary = 1 and ranked.rank_in_kind = 1))
                then {{ round_half_away('ranked.werkelijke_kosten') }}
        end as werkelijke_kosten,
        case
            when not (ranked.is_primary or (ranked.n_primary = 1 and ranked.rank_in_kind = 1))
                then {{ round_half_away('ranked.verschuiving') }}
        end as verschuiving,
        ranked.scenario
    from ranked
    left join areas
        on
            ranked.wijk_code = areas.area_code
            and ranked.year = areas.year

)

select * from final
