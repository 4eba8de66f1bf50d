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
-#}
{% test matches_raw(model, by, deliveries, counts={}, amounts={}, tolerance=0.01, relative_tolerance=0) %}

with

delivered as (
    {%- for delivery in deliveries %}
        {%- set grouped = delivery.get('keys', {}) %}
        {%- set fixed = delivery.get('values', {}) %}

        select
            {%- for key in by %}
                {{ "'" ~ fixed[key] ~ "'" if key in fixed else grouped[key] }} as {{ key }},
            {%- endfor %}
            {%- for measure in counts %}
                count({{ delivery.counts[measure] }}) as {{ measure }},
            {%- endfor %}
            {%- for measure in amounts %}
                sum(cast({{ delivery.amounts[measure] }} as decimal(18, 2))) as {{ measure }},
            {%- endfor %}
            count(*) as delivered_rows
        from {{ delivery.relation }}
        {%- if grouped %}
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
            {{ key }},
        {%- endfor %}
        {%- for measure, expression in counts.items() %}
            count({{ expression }}) as {{ measure }},
        {%- endfor %}
        {%- for measure, expression in amounts.items() %}
            sum({{ expression }}) as {{ measure }},
        {%- endfor %}
        count(*) as built_rows
    from {{ model }}
    group by {{ by | join(', ') }}

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
