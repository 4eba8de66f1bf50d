with

kerncijfers as (

    select * from {{ ref('wijk_kerncijfers') }}

),

-- one column per risk factor, in percent of inhabitants or households
pivoted as (

    {{ risk_factor_pivot('wijk') }}

),

final as (

    select
        kerncijfers.year,
        kerncijfers.gemeente_code,
        kerncijfers.gemeente_name,
        kerncijfers.wijk_code,
        kerncijfers.wijk_name,
        wijken.reference_area_code as reference_wijk_code,
        wijken.reference_gemeente_code,
        wijken.n_reference_areas,
        kerncijfers.inwoners,
        kerncijfers.huishoudens,
        {{ risk_factor_columns('pivoted') }}
        cast(
            {{ round_half_away('pivoted.pct_jonger_dan_15 * kerncijfers.inwoners / 100.0') }} as integer
        ) as inwoners_jonger_dan_15
    from kerncijfers
    left join pivoted
        on
            kerncijfers.wijk_code = pivoted.area_code
            and kerncijfers.year = pivoted.year
    {{ join_area_of_year('wijk', 'kerncijfers') }}

)

select * from final
