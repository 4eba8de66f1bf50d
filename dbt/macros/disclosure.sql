{#- Disclosure control (docs/architecture.md), applied in the serving layer only.

    Parameters are dbt vars fed from the settings: `suppression_threshold` (MMR_SUPPRESSION_THRESHOLD,
    default 10) and `rounding_base` (MMR_ROUNDING_BASE, default 5).

    1. Threshold suppression: a count below the threshold (or unknown) is hidden.
    2. Rounding: a published count is rounded to the rounding base, never below the threshold.
    3. Derived values: a rate, average or amount is hidden when its base count is hidden.
    4. Complementary suppression: within every group whose total is published elsewhere (all wijken
       of a gemeente-year, all providers of a gemeente-year-domain, ...) a hidden cell must never be
       the only hidden one, or it equals the total minus the others. When exactly one is hidden, the
       smallest visible cell of the group is hidden too. The same rule holds along a row whose
       columns add up to another published column (households in 1 + 2 + 3 domains = households
       with support). Column and row passes alternate a fixed number of rounds, each pass only
       hiding more, so both rules hold at the end (the serving scan test checks the published file).

    Usage in a serving model:

        flagged as (
            {{ disclosure_flags('counted', ['year', 'gemeente_code'], ['wijk_code'], ['clienten']) }}
        ),
        final as (
            select ..., {{ publish_count('clienten') }} as clienten,
                {{ publish_with_base('kosten', 'clienten') }} as kosten
            from flagged
        )

    Every count column `c` gets a flag column `c__hidden`. Window functions and `case` only, so the
    SQL is the same on DuckDB and PostgreSQL. -#}

{#- The smallest publishable count: the threshold rounded up to the rounding base. -#}
{% macro disclosure_min_published() -%}
    {%- set threshold = var('suppression_threshold') | int -%}
    {%- set base = var('rounding_base') | int -%}
    {{- ((threshold + base - 1) // base) * base -}}
{%- endmacro %}

{#- A count rounded half up to the rounding base (portable: no dialect-specific round()). -#}
{% macro disclosure_round(column) -%}
    {%- set base = var('rounding_base') | int -%}
    cast(greatest(
        floor({{ column }} / {{ base }}.0 + 0.5) * {{ base }},
        {{ disclosure_min_published() }}
    ) as integer)
{%- endmacro %}

{#- Threshold suppression and rounding of one count on its own (no complementary suppression):
    for counts that are never published next to their total. -#}
{% macro suppress_count(column) -%}
    case
        when {{ column }} is null or {{ column }} < {{ var('suppression_threshold') }} then null
        else {{ disclosure_round(column) }}
    end
{%- endmacro %}

{#- A rate or amount is hidden whenever its base count would be suppressed by the threshold. -#}
{% macro suppress_with_base(value, base_count) -%}
    case
        when {{ base_count }} is null or {{ base_count }} < {{ var('suppression_threshold') }} then null
        else {{ value }}
    end
{%- endmacro %}

{#- A count whose flag was set by disclosure_flags: null when hidden, else rounded. -#}
{% macro publish_count(column) -%}
    case when {{ column }}__hidden then null else {{ disclosure_round(column) }} end
{%- endmacro %}

{#- A derived value (rate, average, amount) published only when its base count is. -#}
{% macro publish_with_base(value, base_count) -%}
    case when {{ base_count }}__hidden then null else {{ value }} end
{%- endmacro %}

{#- One flag of a column pass: the cell stays hidden, or it is the smallest visible cell of a
    group that has exactly one hidden cell. -#}
{% macro _disclosure_column_flag(column, previous, partition_by, order_by) -%}
    {{ column }}__{{ previous }}
    or (
        sum(case when {{ column }}__{{ previous }} then 1 else 0 end)
            over (partition by {{ partition_by | join(', ') }}) = 1
        and row_number() over (
            partition by {{ partition_by | join(', ') }}
            order by case when {{ column }}__{{ previous }} then 1 else 0 end, {{ column }}
            {%- for key in order_by %}, {{ key }}{% endfor %}
        ) = 1
    )
{%- endmacro %}

{#- One flag of a row pass: a part is hidden too when exactly one cell of (total, parts) is hidden
    and it is the smallest visible part (ties go to the first part listed). -#}
{% macro _disclosure_row_flag(column, previous, row_totals) -%}
    {%- set ns = namespace(expression=column ~ '__' ~ previous) -%}
    {%- for total, parts in row_totals if column in parts -%}
        {%- set position = parts.index(column) -%}
        {%- set cells = [total] + parts -%}
        {%- set smallest -%}
            not {{ column }}__{{ previous }}
            {%- for other in parts if other != column %}
            and (
                {{ other }}__{{ previous }}
                or {{ other }} > {{ column }}
                {%- if parts.index(other) > position %}
                or {{ other }} = {{ column }}
                {%- endif %}
            )
            {%- endfor %}
        {%- endset -%}
        {%- set ns.expression -%}
            {{ ns.expression }}
            or (
                (
                    {%- for cell in cells %}
                    case when {{ cell }}__{{ previous }} then 1 else 0 end{{ " +" if not loop.last }}
                    {%- endfor %}
                ) = 1
                and {{ smallest }}
            )
        {%- endset -%}
    {%- endfor -%}
    {{ ns.expression }}
{%- endmacro %}

{#- The rows of `relation` with a `<count>__hidden` flag per count: primary (threshold) and
    complementary suppression within `partition_by` groups and along `row_totals`
    ([(total, [part, ...]), ...]). `order_by` breaks ties between equal cells deterministically. -#}
{% macro disclosure_flags(relation, partition_by, order_by, counts, row_totals=[], rounds=3) -%}
    {%- set threshold = var('suppression_threshold') | int -%}
    {%- set levels = rounds * 2 -%}
    {%- for level in range(levels, 0, -1) %}
        select
            level_{{ level - 1 }}.*,
            {%- for count in counts %}
                {%- set previous = 'h' ~ (level - 1) %}
                {%- set name = 'hidden' if level == levels else 'h' ~ level %}
                {%- if level % 2 == 1 %}
                    {{ _disclosure_column_flag(count, previous, partition_by, order_by) }}
                {%- else %}
                    {{ _disclosure_row_flag(count, previous, row_totals) }}
                {%- endif %} as {{ count }}__{{ name }}{{ "," if not loop.last }}
            {%- endfor %}
        from (
    {%- endfor %}
    select
        {{ relation }}.*,
        {%- for count in counts %}
            ({{ count }} is null or {{ count }} < {{ threshold }}) as {{ count }}__h0{{ "," if not loop.last }}
        {%- endfor %}
    from {{ relation }}
    {%- for level in range(1, levels + 1) %}
        ) as level_{{ level - 1 }}
    {%- endfor %}
{%- endmacro %}
