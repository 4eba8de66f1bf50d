{#- Disclosure control (docs/architecture.md), applied in the serving layer only.

    Parameters are dbt vars fed from the settings: `suppression_threshold` (MMR_SUPPRESSION_THRESHOLD,
    default 10) and `rounding_base` (MMR_ROUNDING_BASE, default 5).

    1. Threshold suppression: a count below the threshold (or unknown) is hidden.
    2. Rounding: a published count is rounded to the rounding base, never below the threshold.
    3. Derived values: a rate, average or amount is hidden when its base count is hidden; a rate is
       published at the precision of its rounded base and only when the count it implies passes the
       threshold (publish_rate); an average over fewer than three contributors is hidden.
    4. Complementary suppression: within every group whose total is published elsewhere (all wijken
       of a gemeente-year, all providers of a gemeente-year-domain, ...) a hidden cell must never be
       the only hidden one, or it equals the total minus the others. When exactly one is hidden, the
       smallest visible cell of the group is hidden too. The same rule holds along a row whose
       columns add up to another published column (households in 1 + 2 + 3 domains = households
       with support). The passes repeat until nothing changes (disclosure_fixed_point), so every
       rule holds at the end; the audit blocks a publish where one does not.
    5. One decision per cell: a count published in several tables (the clients of a wijk, year and
       domain) is decided once, in the model disclosure_cells, and every table showing it or a figure
       derived from it hides it there (with_cell_decision joins a relation to that decision).

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

{#- A rate published at the precision its rounded base allows: as if computed from the numerator
    rounded to the rounding base over the base rounded the same way, so rate × published base gives
    back only a rounded count. Null when the base is hidden or the implied numerator is below the
    threshold (a rate may not reveal a small count). `scale` is 100 for a percentage, 1000 per 1,000. -#}
{% macro publish_rate(rate, base_count, scale=100) -%}
    {%- set rounding = var('rounding_base') | int -%}
    {%- set rounded_base = disclosure_round(base_count) -%}
    {%- set rounded_numerator -%}
        floor({{ rate }} * {{ rounded_base }} / {{ scale }}.0 / {{ rounding }} + 0.5) * {{ rounding }}
    {%- endset -%}
    case
        when {{ base_count }} is null or {{ base_count }} < {{ var('suppression_threshold') }} then null
        when {{ rate }} is null then null
        when {{ rounded_numerator }} < {{ var('suppression_threshold') }} then null
        else {{ rounded_numerator }} * {{ scale }}.0 / {{ rounded_base }}
    end
{%- endmacro %}

{#- An average over contributors (peers, gemeenten of a region): hidden below three, so nobody who
    knows their own value and the average learns another contributor's. -#}
{% macro publish_average(value, contributors) -%}
    case when {{ contributors }} >= 3 then {{ value }} end
{%- endmacro %}

{#- The suppression decision of every cell, iterated to a fixed point.

    `cells` has one row per cell: `cell_id` (unique) and `value` (the exact count; null = unknown).
    `memberships` has one row per (group_id, cell_id): a group is a set of cells whose total is
    published or can be derived (the wijken of a gemeente-year with the gemeente itself, the parts
    of a row with their total, ...). A cell may belong to any number of groups.

    Start: a cell is hidden when its count is unknown or below the threshold. Pass: in every group
    with exactly one hidden cell the smallest visible cell is hidden as well (ties by cell_id). The
    passes repeat until one changes nothing: flags only ever go from visible to hidden, so this ends
    after at most as many passes as there are cells. Returns (cell_id, value, hidden). -#}
{% macro disclosure_fixed_point(cells, memberships) -%}
    with recursive

    member_cells as (

        select
            {{ memberships }}.group_id,
            {{ cells }}.cell_id,
            {{ cells }}.value
        from {{ memberships }}
        inner join {{ cells }}
            on {{ memberships }}.cell_id = {{ cells }}.cell_id
        union all
        -- every cell is its own group too, so a cell in no group still gets its decision
        select
            'cell|' || cell_id as group_id,
            cell_id,
            value
        from {{ cells }}

    ),

    passes (group_id, cell_id, value, hidden, pass_number, changed) as (

        select
            group_id,
            cell_id,
            value,
            (value is null or value < {{ var('suppression_threshold') }}) as hidden,
            0 as pass_number,
            true as changed
        from member_cells
        union all
        select
            group_id,
            cell_id,
            value,
            now_hidden as hidden,
            pass_number + 1 as pass_number,
            bool_or(now_hidden <> was_hidden) over () as changed
        from (
            select
                group_id,
                cell_id,
                value,
                pass_number,
                hidden as was_hidden,
                bool_or(marked) over (partition by cell_id) as now_hidden
            from (
                select
                    group_id,
                    cell_id,
                    value,
                    hidden,
                    pass_number,
                    hidden or (
                        sum(case when hidden then 1 else 0 end) over (partition by group_id) = 1
                        and row_number() over (
                            partition by group_id
                            order by case when hidden then 1 else 0 end, value, cell_id
                        ) = 1
                    ) as marked
                from passes
                where changed
            ) as marked_cells
        ) as decided_cells

    )

    select distinct
        cell_id,
        value,
        hidden
    from passes
    where not changed
{%- endmacro %}

{#- The rows of `relation` with a `<count>__hidden` flag per count: primary (threshold) and
    complementary suppression within `partition_by` groups and along `row_totals`
    ([(total, [part, ...]), ...]), iterated to a fixed point (disclosure_fixed_point).
    `partition_by` + `order_by` must identify a row (no nulls); ties between equal cells go to the
    first row key. -#}
{% macro disclosure_flags(relation, partition_by, order_by, counts, row_totals=[]) -%}
    {%- set keys = (partition_by + order_by) | unique | list -%}
    {%- set row_key -%}
        concat_ws('|', {% for key in keys %}cast({{ key }} as varchar){{ ", " if not loop.last }}{% endfor %})
    {%- endset -%}
    {%- set group_key -%}
        concat_ws('|', {% for key in partition_by %}cast({{ key }} as varchar){{ ", " if not loop.last }}{% endfor %})
    {%- endset -%}
    select
        {{ relation }}.*,
        {%- for count in counts %}
            flags.{{ count }}__hidden{{ "," if not loop.last }}
        {%- endfor %}
    from {{ relation }}
    inner join (
        with

        cells_long as (
            {%- for count in counts %}
                select
                    {{ row_key }} as row_key,
                    {{ group_key }} as group_key,
                    '{{ count }}' as count_name,
                    {{ row_key }} || '|{{ count }}' as cell_id,
                    cast({{ count }} as double precision) as value
                from {{ relation }}
                {{- "\n                union all" if not loop.last }}
            {%- endfor %}
        ),

        cell_values as (
            select
                cell_id,
                value
            from cells_long
        ),

        memberships as (
            select
                'column|' || count_name || '|' || group_key as group_id,
                cell_id
            from cells_long
            {%- for total, parts in row_totals %}
                union all
                select
                    'row{{ loop.index }}|' || row_key as group_id,
                    cell_id
                from cells_long
                where count_name in ('{{ ([total] + parts) | join("', '") }}')
            {%- endfor %}
        ),

        decided as (
            {{ disclosure_fixed_point('cell_values', 'memberships') | indent(12) }}
        )

        select
            cells_long.row_key,
            {%- for count in counts %}
                bool_or(case when cells_long.count_name = '{{ count }}' then decided.hidden end)
                    as {{ count }}__hidden{{ "," if not loop.last }}
            {%- endfor %}
        from cells_long
        inner join decided
            on cells_long.cell_id = decided.cell_id
        group by cells_long.row_key
    ) as flags
        on {{ row_key }} = flags.row_key
{%- endmacro %}

{#- The rows of `relation` with the decision on the client cell they rest on (disclosure_cells,
    one decision per cell for every table) as the flag `hidden_as`.

    The cell is the one of the area the relation's `area_code` column names, in its `year_column`,
    at `area_level` (none: the relation's own `area_level` column), for the domain in its `domein`
    column, named there as `domein_prefix` + domain (raadsrapportage: indicator 'clienten_jeugd').
    With `domein` none, the flag is the decision on all domains of the area and year together:
    hidden when any one is. A row without a cell gets `unknown_hidden`. -#}
{% macro with_cell_decision(
    relation, area_code, area_level=none, domein='domein', domein_prefix='', year_column='year',
    hidden_as='clienten__hidden', unknown_hidden=true
) -%}
    {%- set any_domain -%}
        (
            select
                area_level,
                area_code,
                year,
                bool_or(hidden) as hidden
            from {{ ref('disclosure_cells') }}
            group by area_level, area_code, year
        )
    {%- endset -%}
    select
        {{ relation }}.*,
        coalesce(cells.hidden, {{ 'true' if unknown_hidden else 'false' }}) as {{ hidden_as }}
    from {{ relation }}
    left join {{ any_domain if domein is none else ref('disclosure_cells') }} as cells
        on
            {{ relation }}.{{ area_code }} = cells.area_code
            and {{ relation }}.{{ year_column }} = cells.year
            and {{ "'" ~ area_level ~ "'" if area_level else relation ~ '.area_level' }} = cells.area_level
        {%- if domein is not none %}
            and {{ relation }}.{{ domein }} = {{ "'" ~ domein_prefix ~ "' || " if domein_prefix }}cells.domein
        {%- endif %}
{%- endmacro %}

{#- `publish_count(c) as c` for every count `c` of `counts`: select items. -#}
{% macro publish_counts(counts) -%}
    {%- for count in counts %}
        {{ publish_count(count) }} as {{ count }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- `publish_with_base(v, base_count) as v` for every value `v` of `values` resting on the same
    count, rounded to `decimals` when given: select items. -#}
{% macro publish_all_with_base(values, base_count, decimals=none) -%}
    {%- for value in values %}
        {{ publish_with_base(
            value if decimals is none else 'round(' ~ value ~ ', ' ~ decimals ~ ')', base_count
        ) }} as {{ value }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}
