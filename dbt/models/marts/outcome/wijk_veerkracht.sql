with

profiel as (

    select * from {{ ref('wijk_risicoprofiel') }}

),

weights as (

    select * from {{ ref('ref_veerkracht_weights') }}

),

-- one row per wijk, year and risk factor
factor_values as (

    {{ unpivot(
        'profiel', ['wijk_code', 'year'], risk_factors() | list, 'factor', 'value', 'double precision',
    ) }}

),

-- the mean and deviation of each factor among all wijken of a year, summed in one order so
-- that a build gives the same last bits every time (a parallel sum of doubles does not)
factor_statistics as (

    select
        year,
        factor,
        avg(value order by wijk_code) as mean_value,
        stddev_samp(value order by wijk_code) as deviation
    from factor_values
    where value is not null
    group by year, factor

),

-- each factor as a z-score among all wijken of the same year
standardised as (

    select
        factor_values.wijk_code,
        factor_values.year,
        factor_values.factor,
        (factor_values.value - factor_statistics.mean_value)
        / nullif(factor_statistics.deviation, 0) as z_score
    from factor_values
    inner join factor_statistics
        on
            factor_values.year = factor_statistics.year
            and factor_values.factor = factor_statistics.factor
    where factor_values.value is not null

),

-- weighted mean z-score over the factors the wijk has; protective factors count negatively
scored as (

    select
        standardised.wijk_code,
        standardised.year,
        sum(
            weights.gewicht
            * case
                when weights.richting = 'bescherming' then -standardised.z_score
                else standardised.z_score
            end
            order by standardised.factor
        ) / nullif(sum(weights.gewicht order by standardised.factor), 0) as risicoscore,
        count(*) as n_factoren
    from standardised
    inner join weights
        on standardised.factor = weights.factor
    where
        standardised.z_score is not null
        and weights.gewicht > 0
    group by standardised.wijk_code, standardised.year

),

indexed as (

    select
        profiel.*,
        scored.n_factoren,
        100 - 10 * scored.risicoscore as veerkracht_index
    from profiel
    left join scored
        on
            profiel.wijk_code = scored.wijk_code
            and profiel.year = scored.year

),

ranked as (

    select
        indexed.*,
        case
            when indexed.veerkracht_index is not null
                then row_number() over (
                    partition by indexed.year, indexed.veerkracht_index is null
                    order by indexed.veerkracht_index desc, indexed.wijk_code asc
                )
        end as veerkracht_rang,
        count(indexed.veerkracht_index) over (partition by indexed.year) as veerkracht_rang_van
    from indexed

),

-- last year's index of the same wijk, or of the wijk that now lies in the same reference wijk
previous as (

    select
        current_year.wijk_code,
        current_year.year,
        last_year.veerkracht_index as vorig_index,
        row_number() over (
            partition by current_year.wijk_code, current_year.year
            order by
                case when last_year.wijk_code = current_year.wijk_code then 0 else 1 end,
                last_year.inwoners desc,
                last_year.wijk_code asc
        ) as preference
    from ranked as current_year
    inner join ranked as last_year
        on
            current_year.reference_wijk_code = last_year.reference_wijk_code
            and current_year.year - 1 = last_year.year
    where last_year.veerkracht_index is not null

),

final as (

    select
        ranked.year,
        ranked.gemeente_code,
        ranked.gemeente_name,
        ranked.wijk_code,
        ranked.wijk_name,
        ranked.reference_wijk_code,
        ranked.inwoners,
        ranked.huishoudens,
        {{ risk_factor_columns('ranked') }}
        ranked.n_factoren,
        ranked.veerkracht_index,
        ranked.veerkracht_rang,
        ranked.veerkracht_rang_van,
        ranked.veerkracht_index - previous.vorig_index as veerkracht_verandering
    from ranked
    left join previous
        on
            ranked.wijk_code = previous.wijk_code
            and ranked.year = previous.year
            and previous.preference = 1

)

select * from final
