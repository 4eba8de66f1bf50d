{{ config(alias='interventie_effect') }}

with

effects as (

    select * from {{ source('analytics', 'intervention_effect') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

final as (

    select
        effects.gemeente_code,
        areas.gemeente_name,
        effects.wijk_code,
        areas.area_name as wijk_name,
        effects.interventie_id,
        effects.interventie_type,
        effects.startdatum,
        effects.startjaar,
        effects.uitkomst,
        effects.effect,
        effects.effect_ondergrens,
        effects.effect_bovengrens,
        effects.p_waarde,
        coalesce(effects.significant, false) as significant,
        effects.effect_relatief,
        effects.effect_relatief_ondergrens,
        effects.effect_relatief_bovengrens,
        effects.niveau_voor,
        effects.niveau_na,
        effects.n_maanden_voor,
        effects.n_maanden_na,
        effects.vergelijkingswijken,
        effects.n_vergelijkingswijken,
        effects.pct_huishoudens_met_kinderen,
        effects.pct_laag_inkomen,
        effects.pct_bijstand,
        effects.opmerking
    from effects
    left join areas
        on
            effects.wijk_code = areas.area_code
            and effects.startjaar = areas.year

)

select * from final
