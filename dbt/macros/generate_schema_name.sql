{#- Schema = the model's folder path joined by `_` (staging_cbs, marts_core, ...), the same rule
    the Dagster translator uses for asset groups, so a group and its schema always agree. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is not none -%}
        {{ custom_schema_name | trim }}
    {%- elif node.resource_type == 'model' -%}
        {{ node.fqn[1:-1] | join('_') }}
    {%- else -%}
        {{ target.schema }}
    {%- endif -%}
{%- endmacro %}
