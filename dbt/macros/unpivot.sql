{#-
    A wide relation made long: one select of `relation` per entry of `values`, stacked with
    `union all`. Each row keeps the `columns` (select items over the relation's row) and carries
    the entry's name as `name_column` and its value as `value_column` (cast to `value_type` when
    given). `values` maps a name to the expression of its value, or lists columns that are their
    own name. A body of a CTE.
-#}
{% macro unpivot(relation, columns, values, name_column, value_column, value_type=none) -%}
    {%- set entries = values.items() if values is mapping else zip(values, values) -%}
    {%- for name, expression in entries %}
        select
            {%- for column in columns %}
                {{ column }},
            {%- endfor %}
            '{{ name }}' as {{ name_column }},
            {{ 'cast(' ~ expression ~ ' as ' ~ value_type ~ ')' if value_type else expression }} as {{ value_column }}
        from {{ relation }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
{%- endmacro %}
