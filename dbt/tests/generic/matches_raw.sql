{#-
    Reconciliation: the model, grouped `by` its key columns, holds what was delivered, group for
    group; a row returned is a group that is missing on one side or differs.

    - `counts`: measure -> what the model counts per group (`count(<it>)`, e.g. `*`), compared exactly;
    - `amounts`: measure -> what the model sums per group, compared to the cent (`tolerance`, in
      euros, plus `relative_tolerance` of the delivered amount where rounding in between allows it);
    - `deliveries`: the relations that were delivered (raw tables or staging), each with `keys`
      (key column -> its column there, grouped by), `values` (key column -> a constant, e.g. the
      domain a table delivers) and the same `counts` and `amounts` measures as expressions there.
      Delivered amounts are summed as the decimal(18, 2) staging makes of them, so the comparison
      is exact and does not depend on the order a parallel sum adds a hundred million doubles in.
      A delivery without rows delivers no group.
    - `whole`: the tested model again, for a test with `where: __untested__` (macros/tested_rows.sql).
      The groups of the rows built since the test last passed are compared in full, on both sides;
      of the other groups, compared when they were built, only that each is on both sides.
-#}
{% test matches_raw(model, by, deliveries, counts={}, amounts={}, tolerance=0.01, relative_tolerance=0, whole=none) %}

{#- per delivery, each key of a group as the delivery states it: a constant or a column -#}
{%- set delivered_keys = [] -%}
{%- for delivery in deliveries -%}
    {%- set fixed = delivery.get('values', {}) -%}
    {%- set expressions = {} -%}
    {%- for key in by -%}
        {%- do expressions.update({key: "'" ~ fixed[key] ~ "'" if key in fixed else delivery['keys'][key]}) -%}
    {%- endfor -%}
    {%- do delivered_keys.append(expressions) -%}
{%- endfor %}

with

{%- if whole is not none %}

scope as (

    select distinct
        {%- for key in by %}
            {{ key }} as scope_{{ key }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ model }}

),

delivered_groups as (
    {%- for delivery in deliveries %}
        {%- set keys = delivered_keys[loop.index0] %}

        select distinct
            {%- for key in by %}
                {{ keys[key] }} as {{ key }},
            {%- endfor %}
            true as present
        from {{ delivery.relation }}
        {%- if not loop.last %}

            union all
        {%- endif %}
    {%- endfor %}

),

built_groups as (

    select distinct
        {%- for key in by %}
            {{ key }},
        {%- endfor %}
        true as present
    from {{ whole }}

),

{%- endif %}

delivered as (
    {%- for delivery in deliveries %}
        {%- set keys = delivered_keys[loop.index0] %}
        {%- set grouped = delivery.get('keys', {}) %}
        {%- set measures = counts | list %}
        {#- one count of distinct values: distinct rows first, then counted, which DuckDB can
            spill to disk (a grouped count(distinct) it holds in memory whole) -#}
        {%- set distinct_count = measures | length == 1 and not amounts
            and delivery.counts[measures[0]].startswith('distinct ') %}

        select
            {%- for key in by %}
                {{ key if distinct_count else keys[key] }} as {{ key }},
            {%- endfor %}
            {%- if distinct_count %}
                count(counted) as {{ measures[0] }},
            {%- else %}
                {%- for measure in counts %}
                    count({{ delivery.counts[measure] }}) as {{ measure }},
                {%- endfor %}
            {%- endif %}
            {%- for measure in amounts %}
                sum(cast({{ delivery.amounts[measure] }} as decimal(18, 2))) as {{ measure }},
            {%- endfor %}
            count(*) as delivered_rows
        from
        {%- if distinct_count %}
            (
                select distinct
                    {%- for key in by %}
                        {{ keys[key] }} as {{ key }},
                    {%- endfor %}
                    {{ delivery.counts[measures[0]][9:] }} as counted
                from {{ delivery.relation }}
        {%- else %}
            {{ delivery.relation }}
        {%- endif %}
        {%- if whole is not none %}
            inner join scope
                on
                {%- for key in by %}
                    {{ 'and ' if not loop.first }}scope.scope_{{ key }} = {{ keys[key] }}
                {%- endfor %}
        {%- endif %}
        {%- if distinct_count %}
            ) as distinct_rows
            group by {{ by | join(', ') }}
        {%- elif grouped %}
            group by {{ grouped.values() | join(', ') }}
        {%- endif %}
        having count(*) > 0
        {%- if not loop.last %}

            union all
        {%- endif %}
    {%- endfor %}

),

built as (

    select
        {%- for key in by %}
            built_rows.{{ key }},
        {%- endfor %}
        {%- for measure, expression in counts.items() %}
            count({{ expression }}) as {{ measure }},
        {%- endfor %}
        {%- for measure, expression in amounts.items() %}
            sum({{ expression }}) as {{ measure }},
        {%- endfor %}
        count(*) as built_rows
    from {{ model if whole is none else whole }} as built_rows
    {%- if whole is not none %}
        inner join scope
            on
            {%- for key in by %}
                {{ 'and ' if not loop.first }}scope.scope_{{ key }} = built_rows.{{ key }}
            {%- endfor %}
    {%- endif %}
    group by
    {%- for key in by %}
        built_rows.{{ key }}{{ ',' if not loop.last }}
    {%- endfor %}

),

compared as (

    select
        {%- for key in by %}
            coalesce(delivered.{{ key }}, built.{{ key }}) as {{ key }},
        {%- endfor %}
        {%- for measure in (counts | list) + (amounts | list) %}
            delivered.{{ measure }} as delivered_{{ measure }},
            built.{{ measure }} as built_{{ measure }},
        {%- endfor %}
        delivered.delivered_rows,
        built.built_rows
    from delivered
    full outer join built
        on
        {%- for key in by %}
            {{ 'and ' if not loop.first }}delivered.{{ key }} = built.{{ key }}
        {%- endfor %}
    {%- if whole is not none %}

    union all

    -- every group delivered and never built, or built and no longer delivered (one in the scope
    -- shows above too)
    select
        {%- for key in by %}
            coalesce(delivered_groups.{{ key }}, built_groups.{{ key }}) as {{ key }},
        {%- endfor %}
        {%- for measure in (counts | list) + (amounts | list) %}
            null as delivered_{{ measure }},
            null as built_{{ measure }},
        {%- endfor %}
        case when delivered_groups.present then 0 end as delivered_rows,
        case when built_groups.present then 0 end as built_rows
    from delivered_groups
    full outer join built_groups
        on
        {%- for key in by %}
            {{ 'and ' if not loop.first }}delivered_groups.{{ key }} = built_groups.{{ key }}
        {%- endfor %}
    where delivered_groups.present is null or built_groups.present is null
    {%- endif %}

)

select *
from compared
where
    delivered_rows is null
    or built_rows is null
    {%- for measure in counts %}
        or delivered_{{ measure }} <> built_{{ measure }}
    {%- endfor %}
    {%- for measure in amounts %}
        or delivered_{{ measure }} is null
        or built_{{ measure }} is null
        or abs(delivered_{{ measure }} - built_{{ measure }})
        >= {{ tolerance }}{% if relative_tolerance %} + {{ relative_tolerance }} * abs(delivered_{{ measure }}){% endif %}
    {%- endfor %}

{% endtest %}
