{#-
    The combination of `columns` identifies a row: no two rows share it. With `whole` (the tested
    model again) and `where: __untested__`, the combinations of the rows built since the tests last
    passed are counted over the whole table (macros/tested_rows.sql). Two rows sharing a combination
    share every column of it, so the whole table is read only where the rows built since hold the
    values of `within` (a few of `columns`, e.g. the month: all of them by default); a few values
    there keep that lookup small however many rows were built, as in a full build.
-#}
{% test unique_combination(model, columns, whole=none, within=none) %}

{%- if whole is none or (model | string) == (whole | string) %}

select
    {{ columns | join(', ') }},
    count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{%- else %}
{%- set within = within or columns %}

with

untested as (

    select distinct {{ within | join(', ') }}
    from {{ model }}

)

select
    {%- for column in columns %}
        whole_table.{{ column }},
    {%- endfor %}
    count(*) as occurrences
from {{ whole }} as whole_table
inner join untested
    on
    {%- for column in within %}
        {{ 'and ' if not loop.first }}whole_table.{{ column }} = untested.{{ column }}
    {%- endfor %}
group by
    {%- for column in columns %}
        whole_table.{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
having count(*) > 1

{%- endif %}

{% endtest %}
