{{ config(alias='interventie_effect') }}

with

effects as (

    select * from {{ source('analytics', 'intervention_effect') }}

),

kerncijfers as (

    select * from {{ ref('wijk_kerncijfers') }}

),

-- levels are rates over whole wijken; rate × months × inhabitants counts new trajectories, so a
-- level is shown only at the precision of a rounded count of at least the threshold
levels as (

    select
        effects.*,
        {{ publish_rate(
            'effects.niveau_voor * effects.n_maanden_voor / 12.0', 'kerncijfers.inwoners', 1000
        ) }} * 12.0 / nullif(effects.n_maanden_voor, 0) as niveau_voor_gepubliceerd,
        {{ publish_rate(
            'effects.niveau_na * effects.n_maanden_na / 12.0', 'kerncijfers.inwoners', 1000
        ) }} * 12.0 / nullif(effects.n_maanden_na, 0) as niveau_na_gepubliceerd
    from effects
    left join kerncijfers
        on
            effects.wijk_code = kerncijfers.wijk_code
            and effects.startjaar = kerncijfers.year

),

-- the relative effect is taken against the published level (after minus effect): against the
-- exact one, effect and relative effect together would give the exact level back
relative as (

    select
        levels.*,
        case
            when levels.niveau_na_gepubliceerd - levels.effect > 0
                then levels.niveau_na_gepubliceerd - levels.effect
        end as basisniveau
    from levels

),

final as (

    select
        relative.gemeente_code,
        wijken.gemeente_name,
        relative.wijk_code,
        wijken.area_name as wijk_name,
        relative.interventie_id,
        relative.interventie_type,
        relative.startdatum,
        relative.startjaar,
        relative.uitkomst,
        relative.effect,
        relative.effect_ondergrens,
        relative.effect_bovengrens,
        relative.p_waarde,
        coalesce(relative.significant, false) as significant,
        relative.effect / relative.basisniveau as effect_relatief,
        relative.effect_ondergrens / relative.basisniveau as effect_relatief_ondergrens,
        relative.effect_bovengrens / relative.basisniveau as effect_relatief_bovengrens,
        relative.niveau_voor_gepubliceerd as niveau_voor,
        relative.niveau_na_gepubliceerd as niveau_na,
        relative.n_maanden_voor,
        relative.n_maanden_na,
        relative.vergelijkingswijken,
        relative.n_vergelijkingswijken,
        relative.pct_huishoudens_met_kinderen,
        relative.pct_laag_inkomen,
        relative.pct_bijstand,
        relative.opmerking
    from relative
    {{ join_area_of_year('wijk', 'relative', 'startjaar') }}

)

select * from final
