{#-
    None of `columns` is null, checked in one scan of the model: one row per column with nulls,
    and the failures are the null values counted over all of them. One test per model instead of
    one per column, because dbt spends about 50 ms per test on its own whatever the query costs
    (docs/architecture.md, "Incremental builds").
-#}
{% test not_null_columns(model, columns) %}

{{ config(fail_calc='coalesce(sum(null_values), 0)') }}

with

null_counts as (

    select
        {%- for column in columns %}
            count(*) - count({{ column }}) as nulls_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ model }}

)

{%- for column in columns %}

    select
        '{{ column }}' as column_name,
        nulls_{{ loop.index }} as null_values
    from null_counts
    where nulls_{{ loop.index }} > 0
    {%- if not loop.last %}

        union all
    {%- endif %}
{%- endfor %}

{% endtest %}
