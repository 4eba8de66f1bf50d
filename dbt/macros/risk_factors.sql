{#- The risk factors of a wijk's risk profile (wijk_risicoprofiel): column name -> (indicator_code
    in fct_area_indicator, factor turning its unit into percent). One list for every model that
    builds or weighs the profile. -#}
{% macro risk_factors() -%}
    {{ return({
        'pct_laag_inkomen': ('aandeel_laag_inkomen', 1.0),
        'pct_huishoudens_met_kinderen': ('aandeel_huishoudens_met_kinderen', 1.0),
        'pct_bijstand': ('aandeel_bijstand', 0.1),
        'pct_werkloos': ('aandeel_ww', 0.1),
        'pct_65_plus': ('aandeel_65_plus', 1.0),
        'pct_jonger_dan_15': ('aandeel_0_15', 1.0),
        'pct_eenpersoonshuishoudens': ('aandeel_eenpersoonshuishoudens', 1.0),
        'gemiddeld_inkomen': ('gemiddeld_inkomen', 1.0),
    }) }}
{%- endmacro %}


{#- One row per area of `level` per year with one column per risk factor in percent (and the
    inhabitants), pivoted from fct_area_indicator: a body of a CTE. -#}
{% macro risk_factor_pivot(level) -%}
    select
        area_code,
        year,
        max(case when indicator_code = 'inwoners' then value end) as inwoners,
        {%- for column, (indicator, scale) in risk_factors().items() %}
            max(case when indicator_code = '{{ indicator }}' then value * {{ scale }} end) as {{ column }},
        {%- endfor %}
        count(*) as n_indicatoren
    from {{ ref('fct_area_indicator') }}
    where area_level = '{{ level }}'
    group by area_code, year
{%- endmacro %}


{#- The risk factor columns of `relation` (select items, each followed by a comma). -#}
{% macro risk_factor_columns(relation) -%}
    {%- for column in risk_factors() %}
        {{ relation }}.{{ column }},
    {%- endfor %}
{%- endmacro %}
