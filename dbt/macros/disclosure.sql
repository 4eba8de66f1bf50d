{#- Disclosure control (DESIGN §7): counts below the threshold become null, the rest are rounded
    to the rounding base. Applied in the serving layer only. -#}
{% macro suppress_count(column) -%}
    case
        when {{ column }} is null or {{ column }} < {{ var('suppression_threshold') }} then null
        else cast(round({{ column }} / {{ var('rounding_base') }}.0) * {{ var('rounding_base') }} as integer)
    end
{%- endmacro %}

{#- A rate or amount is hidden whenever its base count would be suppressed. -#}
{% macro suppress_with_base(value, base_count) -%}
    case
        when {{ base_count }} is null or {{ base_count }} < {{ var('suppression_threshold') }} then null
        else {{ value }}
    end
{%- endmacro %}
