{#-
    SQL that differs between DuckDB (the default target) and PostgreSQL (the shared regional
    mode), behind one macro each: `duckdb__` keeps what DuckDB does best, `postgres__` is its twin
    with the same result, `default__` is plain SQL for any other engine.

    Portable as written, no macro needed (checked on both engines):
    - `greatest`/`least` ignore nulls on both (null only when every argument is null);
    - `md5`, `lpad`, `substr`, `||`, `coalesce`, `nullif`, `make_date` on integers, `extract`,
      `with recursive`, window functions, `count(*) filter (where ...)`;
    - `dbt.date_trunc`, `dbt.dateadd`, `dbt.datediff`, `dbt.listagg`, `dbt.concat` (dbt's own).
    Avoid in models: `qualify` (filter on a window column in the next CTE), `::` casts (use
    `cast(x as t)`), DuckDB lists and structs (aggregate to rows, or `dbt.listagg` for text),
    `/` between integers where a fraction is meant (use `divide`), `try_cast` (use `safe_cast`),
    `round` on doubles where a half matters (use `round_half_away`).
-#}


{#- A date as its month key `yyyy-mm` (dim_period.period_key of a month). -#}
{% macro period_key(date_expression) -%}
    {{ return(adapter.dispatch('period_key', 'mmr')(date_expression)) }}
{%- endmacro %}

{% macro duckdb__period_key(date_expression) -%}
    strftime({{ date_expression }}, '%Y-%m')
{%- endmacro %}

{% macro postgres__period_key(date_expression) -%}
    to_char({{ date_expression }}, 'YYYY-MM')
{%- endmacro %}

{% macro default__period_key(date_expression) -%}
    cast(extract(year from {{ date_expression }}) as varchar) || '-'
    || lpad(cast(extract(month from {{ date_expression }}) as varchar), 2, '0')
{%- endmacro %}


{#- The calendar year of a date, as an integer. -#}
{% macro year_of(date_expression) -%}
    cast(extract(year from {{ date_expression }}) as integer)
{%- endmacro %}


{#- A date from year, month and day numbers of any integer type. -#}
{% macro make_date(year, month, day) -%}
    {{ return(adapter.dispatch('make_date', 'mmr')(year, month, day)) }}
{%- endmacro %}

{% macro default__make_date(year, month, day) -%}
    make_date({{ year }}, {{ month }}, {{ day }})
{%- endmacro %}

{% macro postgres__make_date(year, month, day) -%}
    {#- PostgreSQL has make_date(integer, integer, integer) only: bigints must be narrowed -#}
    make_date(cast({{ year }} as integer), cast({{ month }} as integer), cast({{ day }} as integer))
{%- endmacro %}


{#- Text to a date by a strftime pattern (`%d-%m-%Y`); null when the text does not parse on
    DuckDB, an error on PostgreSQL (validate at ingestion: the raw layer is already typed). -#}
{% macro parse_date(text_expression, strftime_pattern) -%}
    {{ return(adapter.dispatch('parse_date', 'mmr')(text_expression, strftime_pattern)) }}
{%- endmacro %}

{% macro duckdb__parse_date(text_expression, strftime_pattern) -%}
    cast(try_strptime({{ text_expression }}, '{{ strftime_pattern }}') as date)
{%- endmacro %}

{% macro default__parse_date(text_expression, strftime_pattern) -%}
    {%- set pattern = strftime_pattern
        | replace('%Y', 'YYYY') | replace('%m', 'MM') | replace('%d', 'DD')
        | replace('%H', 'HH24') | replace('%M', 'MI') | replace('%S', 'SS') -%}
    to_date(nullif(trim({{ text_expression }}), ''), '{{ pattern }}')
{%- endmacro %}


{#- A cast that yields null instead of failing, for numbers, integers and ISO dates. -#}
{% macro safe_cast(expression, type) -%}
    {{ return(adapter.dispatch('safe_cast', 'mmr')(expression, type)) }}
{%- endmacro %}

{% macro duckdb__safe_cast(expression, type) -%}
    {%- if (type | lower | trim) in ('integer', 'int', 'bigint', 'smallint') -%}
        {#- DuckDB's try_cast rounds '4.2' to 4; PostgreSQL's twin refuses it: refuse on both -#}
        case
            when regexp_full_match(cast({{ expression }} as varchar), '\s*[+-]?[0-9]+\s*')
                then try_cast({{ expression }} as {{ type }})
        end
    {%- else -%}
        try_cast({{ expression }} as {{ type }})
    {%- endif -%}
{%- endmacro %}

{% macro default__safe_cast(expression, type) -%}
    {%- set kind = type | lower | trim -%}
    {%- if kind in ('integer', 'int', 'bigint', 'smallint') -%}
        {%- set pattern = '^\\s*[+-]?[0-9]+\\s*$' -%}
    {%- elif kind in ('double', 'double precision', 'float', 'real') or kind.startswith('decimal') or kind.startswith('numeric') -%}
        {%- set pattern = '^\\s*[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?\\s*$' -%}
    {%- elif kind == 'date' -%}
        {%- set pattern = '^\\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\\s*$' -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("safe_cast: no portable test for type '" ~ type ~ "'") }}
    {%- endif -%}
    case
        when cast({{ expression }} as varchar) ~ '{{ pattern }}' then cast(cast({{ expression }} as varchar) as {{ type }})
    end
{%- endmacro %}


{#- a / b as a fraction (never integer division), null when b is 0 or null. -#}
{% macro divide(numerator, denominator) -%}
    cast({{ numerator }} as double precision) / nullif({{ denominator }}, 0)
{%- endmacro %}


{#- Integer division truncating toward zero, as an integer, on every engine. -#}
{% macro int_divide(numerator, denominator) -%}
    {{ return(adapter.dispatch('int_divide', 'mmr')(numerator, denominator)) }}
{%- endmacro %}

{% macro duckdb__int_divide(numerator, denominator) -%}
    ({{ numerator }} // {{ denominator }})
{%- endmacro %}

{% macro default__int_divide(numerator, denominator) -%}
    (cast({{ numerator }} as bigint) / cast({{ denominator }} as bigint))
{%- endmacro %}


{#- Rounding with halves away from zero (DuckDB's rule for every type; PostgreSQL rounds halves
    of a double to even, so the twin rounds a numeric). -#}
{% macro round_half_away(expression, digits=0) -%}
    {{ return(adapter.dispatch('round_half_away', 'mmr')(expression, digits)) }}
{%- endmacro %}

{% macro default__round_half_away(expression, digits=0) -%}
    round({{ expression }}, {{ digits }})
{%- endmacro %}

{% macro postgres__round_half_away(expression, digits=0) -%}
    cast(round(cast({{ expression }} as numeric), {{ digits }}) as double precision)
{%- endmacro %}


{#- The median of a column (an aggregate). -#}
{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'mmr')(expression)) }}
{%- endmacro %}

{% macro duckdb__median(expression) -%}
    median({{ expression }})
{%- endmacro %}

{% macro default__median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}


{#- True where the text contains a match of the regular expression. -#}
{% macro regex_matches(expression, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'mmr')(expression, pattern)) }}
{%- endmacro %}

{% macro duckdb__regex_matches(expression, pattern) -%}
    regexp_matches({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro default__regex_matches(expression, pattern) -%}
    ({{ expression }} ~ '{{ pattern }}')
{%- endmacro %}


{#- Fresh planner statistics for a table just built (a post-hook): PostgreSQL plans the next
    model's joins from them and guesses badly without; DuckDB keeps its own and needs nothing. -#}
{% macro analyze_relation(relation) -%}
    {{ return(adapter.dispatch('analyze_relation', 'mmr')(relation)) }}
{%- endmacro %}

{% macro default__analyze_relation(relation) -%}
{%- endmacro %}

{% macro postgres__analyze_relation(relation) -%}
    analyze {{ relation }}
{%- endmacro %}


{#- A pre-hook for an incremental model whose key `columns` became integers: a table built with
    them as text is retyped and emptied (in that order: DuckDB refuses to alter a table a
    transaction deleted from), so the run rebuilds every partition with integer keys. -#}
{% macro retype_text_keys(relation, columns, type='bigint') -%}
    {%- if text_keys(relation, columns) -%}
        {{ retype_keys(relation, columns, type) }}
        delete from {{ relation }};
    {%- endif -%}
{%- endmacro %}


{#- Which of the key `columns` of an incremental model's table are still text (none on a full
    build). -#}
{% macro text_keys(relation, columns) -%}
    {%- set found = [] -%}
    {%- if execute and is_incremental() -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- if column.name | lower in columns and column.is_string() -%}
                {%- do found.append(column.name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}


{#- The statements that make the text key `columns` of `relation` integers, their values emptied:
    for a table about to be emptied and rebuilt. -#}
{% macro retype_keys(relation, columns, type='bigint') -%}
    {%- set retyped = text_keys(relation, columns) -%}
    {%- if retyped -%}
        {%- do log(relation ~ ": keys " ~ retyped | join(', ') ~ " become " ~ type ~ "; every row is rebuilt", info=true) -%}
        {%- for column in retyped %}
            alter table {{ relation }} alter column {{ column }} type {{ type }} using cast(null as {{ type }});
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}


{#- A pre-hook for an incremental model whose `column` is now stored as `type` (same values): a
    table built before is altered in place, once. -#}
{% macro retype_column(relation, column, type) -%}
    {%- if execute and is_incremental() -%}
        {%- set wanted = type | lower | replace(' ', '') | replace('decimal', 'numeric') -%}
        {%- for existing in adapter.get_columns_in_relation(relation) if existing.name | lower == column -%}
            {%- if existing.data_type | lower | replace(' ', '') | replace('decimal', 'numeric') != wanted %}
                alter table {{ relation }} alter column {{ column }} type {{ type }};
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
