{#- How facts and marts look areas up in dim_area (one row per area per year of its division). -#}


{#-
    A `join_type` (left) join of the dim_area row of `level` (gemeente, wijk, buurt) that the
    expression `code` names in the year `year`: the code as it was valid then, with its
    reference-year code beside it. The joined row is called `gemeenten`, `wijken` or `buurten`;
    with `level` none, an area of any level (codes differ between levels), called `areas`.
-#}
{% macro join_area(level, code, year, join_type='left') -%}
    {%- set alias = {'gemeente': 'gemeenten', 'wijk': 'wijken', 'buurt': 'buurten', none: 'areas'}[level] -%}
    {{ join_type }} join {{ ref('dim_area') }} as {{ alias }}
        on
            {{ code }} = {{ alias }}.area_code
            {%- if level is not none %}
                and {{ alias }}.area_level = '{{ level }}'
            {%- endif %}
            and {{ year }} = {{ alias }}.year
{%- endmacro %}


{#- join_area of the `<level>_code` of `relation` in its `year_column`. -#}
{% macro join_area_of_year(level, relation, year_column='year', join_type='left') -%}
    {{ join_area(level, relation ~ '.' ~ level ~ '_code', relation ~ '.' ~ year_column, join_type) }}
{%- endmacro %}


{#- join_area of the `<level>_code` of `relation` in the year of its `date_column`. -#}
{% macro join_area_of_month(level, relation, date_column='month') -%}
    {{ join_area(level, relation ~ '.' ~ level ~ '_code', year_of(relation ~ '.' ~ date_column)) }}
{%- endmacro %}


{#- The `columns` of every area of `level` as in the latest year it exists (a gemeente merged
    away keeps its last name): a body of a CTE, one row per area_code. -#}
{% macro latest_area_attributes(level, columns=['area_name']) -%}
    select
        latest.area_code,
        {%- for column in columns %}
            latest.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from (
        select
            *,
            row_number() over (partition by area_code order by year desc) as recency
        from {{ ref('dim_area') }}
        where area_level = '{{ level }}'
    ) as latest
    where latest.recency = 1
{%- endmacro %}
