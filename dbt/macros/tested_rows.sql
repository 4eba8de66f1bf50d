{#-
    Tests of a fact built incrementally look only at the rows built since its tests last all passed
    (docs/architecture.md, "Incremental builds"): a row-by-row test there gets
    `config: {where: __untested__}`. After a build, `record_tested_rows` (on-run-end) notes for each
    such model the latest `built_at` its tests passed on, in `dbt_tested_through`; a build whose tests
    failed notes nothing, so its rows are tested again by the next, and a full refresh builds every row
    anew, so every row is tested.
-#}


{% macro tested_through_table() -%}
    {{ target.schema }}.dbt_tested_through
{%- endmacro %}


{#- on-run-start and on-run-end run outside a transaction; each commits what it wrote. -#}
{% macro create_tested_through() -%}
    begin;
    create table if not exists {{ tested_through_table() }} (
        model_name varchar(200) not null,
        tested_through timestamp not null
    );
    commit;
{%- endmacro %}


{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') or '' -%}
    {%- if '__untested__' in where -%}
        {%- set since -%}
            built_at > coalesce(
                (select max(tested_through) from {{ tested_through_table() }}
                    where model_name = '{{ relation.identifier }}'),
                cast('-infinity' as timestamp)
            )
        {%- endset -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where | replace('__untested__', since) ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(dbt.default__get_where_subquery(relation)) -%}
{%- endmacro %}


{#- For each model whose tests look at untested rows only: when every such test of it ran in this
    build and passed, its rows up to the latest built are tested. -#}
{% macro record_tested_rows(results) -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set outcome = {} -%}
    {%- for result in results if result.node.resource_type == 'test' -%}
        {%- do outcome.update({result.node.unique_id: result.status}) -%}
    {%- endfor -%}
    {%- set scoped = {} -%}
    {%- for test in graph.nodes.values() if test.resource_type == 'test' and test.attached_node
        and '__untested__' in (test.config.get('where') or '') -%}
        {%- do scoped.setdefault(test.attached_node, []).append(outcome.get(test.unique_id)) -%}
    {%- endfor -%}
    {%- set passed = [] -%}
    {%- for model_id, statuses in scoped.items() -%}
        {%- if statuses | reject('in', ['pass', 'warn']) | list | length == 0 -%}
            {%- do passed.append(graph.nodes[model_id]) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if passed %}
        begin;
        {%- for model in passed %}
            delete from {{ tested_through_table() }} where model_name = '{{ model.alias }}';
            insert into {{ tested_through_table() }} (model_name, tested_through)
            select '{{ model.alias }}', max(built_at)
            from {{ model.schema }}.{{ model.alias }}
            having max(built_at) is not null;
        {%- endfor %}
        commit;
    {%- endif %}
{%- endmacro %}
