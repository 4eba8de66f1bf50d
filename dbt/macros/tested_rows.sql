{#-
    Row-by-row tests look only at rows they have not passed on yet (docs/architecture.md,
    "Incremental builds"): such a test gets `config: {where: __untested__}`.

    - On a fact built incrementally, the untested rows are those built since its tests last all
      passed: after a build, `record_tested_rows` (on-run-end) notes for each such model the latest
      `built_at` its tests passed on, in `dbt_tested_through`; a build whose tests failed notes
      nothing, so its rows are tested again by the next, and a full refresh builds every row anew.
    - On a staging view of batched deliveries (one source, its rows carrying `_batch_id`), they are
      the rows of the batches its tests have not passed on: `note_untested_batches` (on-run-start)
      notes the batches delivered since in `dbt_tested_batches`, the tests look at those, and
      `record_tested_rows` marks them passed when every such test of the view passed. What the tests
      depend on (the view's SQL and macros, the tests' arguments, the seeds they compare with) is
      their version: when it changes, every batch is tested again, and a batch no longer delivered
      (withdrawn, held back) is forgotten. Until a batch has passed, the tests read the whole view.
-#}


{% macro tested_through_table() -%}
    {{ target.schema }}.dbt_tested_through
{%- endmacro %}


{% macro tested_batches_table() -%}
    {{ target.schema }}.dbt_tested_batches
{%- endmacro %}


{#- on-run-start and on-run-end run outside a transaction; each commits what it wrote. -#}
{% macro create_tested_through() -%}
    begin;
    create table if not exists {{ tested_through_table() }} (
        model_name varchar(200) not null,
        tested_through timestamp not null
    );
    create table if not exists {{ tested_batches_table() }} (
        model_name varchar(200) not null,
        tests_version varchar(64) not null,
        batch_id varchar(300) not null,
        passed boolean not null
    );
    commit;
{%- endmacro %}


{#- The tests marked `__untested__`, by the unique id of the model they test. -#}
{% macro scoped_tests() -%}
    {%- set scoped = {} -%}
    {%- for test in graph.nodes.values() if test.resource_type == 'test' and test.attached_node
        and '__untested__' in (test.config.get('where') or '') -%}
        {%- do scoped.setdefault(test.attached_node, []).append(test) -%}
    {%- endfor -%}
    {{ return(scoped) }}
{%- endmacro %}


{#- A view's rows are known by the batch they came from: its one source's `_batch_id`. -#}
{% macro batch_source(model) -%}
    {%- set sources = [] -%}
    {%- set models = [] -%}
    {%- for parent in model.depends_on.nodes -%}
        {%- do (sources if parent.startswith('source.') else models).append(parent) -%}
    {%- endfor -%}
    {%- if sources | length != 1 or models -%}
        {{ exceptions.raise_compiler_error(
            model.unique_id ~ ': tests of untested batches need a view of exactly one source') }}
    {%- endif -%}
    {%- set source = graph.sources[sources[0]] -%}
    {{ return(api.Relation.create(database=source.database, schema=source.schema, identifier=source.identifier)) }}
{%- endmacro %}


{#- The SQL of a macro and of the macros it calls. -#}
{% macro macro_sql(unique_ids, seen) -%}
    {%- set parts = [] -%}
    {%- for unique_id in unique_ids | sort if unique_id not in seen and unique_id in graph.macros -%}
        {%- do seen.append(unique_id) -%}
        {%- set called = graph.macros[unique_id] -%}
        {%- do parts.append(called.macro_sql) -%}
        {%- do parts.append(macro_sql(called.depends_on.macros, seen)) -%}
    {%- endfor -%}
    {{ return(parts | join('|')) }}
{%- endmacro %}


{#- What the batch-scoped tests of `model` depend on, as one digest: the view's SQL and the macros
    it calls, each test's arguments and the seeds it reads. -#}
{% macro tests_version(model, tests) -%}
    {%- set parts = [model.checksum.checksum, macro_sql(model.depends_on.macros, [])] -%}
    {%- for test in tests | sort(attribute='unique_id') -%}
        {%- do parts.append(test.unique_id ~ ':' ~ tojson(test.test_metadata) ~ ':' ~ test.config.get('where')) -%}
        {%- for parent in test.depends_on.nodes | sort if parent != model.unique_id -%}
            {%- if not parent.startswith('seed.') -%}
                {{ exceptions.raise_compiler_error(
                    test.unique_id ~ ': a test of untested batches may read seeds only, not ' ~ parent) }}
            {%- endif -%}
            {%- do parts.append(parent ~ ':' ~ graph.nodes[parent].checksum.checksum) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(local_md5(parts | join('|'))) }}
{%- endmacro %}


{#- on-run-start: for each view whose scoped tests run, the batches delivered since they passed. -#}
{% macro note_untested_batches() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set views = [] -%}
    {%- for model_id, tests in scoped_tests().items()
        if graph.nodes[model_id].config.materialized == 'view'
        and tests | selectattr('unique_id', 'in', selected_resources) | list -%}
        {%- set model = graph.nodes[model_id] -%}
        {%- do views.append((model.alias, batch_source(model), tests_version(model, tests))) -%}
    {%- endfor -%}
    {%- if views %}
        begin;
        {%- for name, source, version in views %}
            delete from {{ tested_batches_table() }}
            where model_name = '{{ name }}'
                and (
                    tests_version <> '{{ version }}'
                    or batch_id not in (select distinct _batch_id from {{ source }} where _batch_id is not null)
                );
            insert into {{ tested_batches_table() }} (model_name, tests_version, batch_id, passed)
            select distinct '{{ name }}', '{{ version }}', delivered._batch_id, false
            from {{ source }} as delivered
            where delivered._batch_id is not null
                and not exists (
                    select 1 from {{ tested_batches_table() }} as noted
                    where noted.model_name = '{{ name }}' and noted.batch_id = delivered._batch_id
                );
        {%- endfor %}
        commit;
    {%- endif %}
{%- endmacro %}


{#- The rows of the batches a view's tests have not passed on; none when no batch has passed yet
    (then the whole view is read, as it would be without the filter). Up to `listed` batches are
    written out as constants, as is the time of `untested_since`: DuckDB applies a filter by
    subquery to every row of the view or fact, and skips by constants what they exclude. -#}
{% macro untested_batches(relation, listed=1000) -%}
    {%- set counted -%}
        select count(*) filter (where passed) from {{ tested_batches_table() }}
        where model_name = '{{ relation.identifier }}'
    {%- endset -%}
    {%- if not execute or run_query(counted).rows[0][0] == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set untested -%}
        select batch_id from {{ tested_batches_table() }}
        where model_name = '{{ relation.identifier }}' and not passed
    {%- endset -%}
    {%- set batches = run_query(untested ~ ' order by batch_id limit ' ~ (listed + 1)).columns[0].values() -%}
    {%- if batches | length > listed -%}
        {{ return('batch_id in (' ~ untested ~ ')') }}
    {%- endif -%}
    {{ return("batch_id in ('" ~ batches | map('replace', "'", "''") | join("', '") ~ "')" if batches else 'false') }}
{%- endmacro %}


{#- The rows of an incremental fact built since its tests last all passed. -#}
{% macro untested_since(relation) -%}
    {%- set query -%}
        select cast(max(tested_through) as varchar(40)) from {{ tested_through_table() }}
        where model_name = '{{ relation.identifier }}'
    {%- endset -%}
    {%- set since = run_query(query).rows[0][0] if execute else none -%}
    {{ return("built_at > cast('" ~ (since or '-infinity') ~ "' as timestamp)") }}
{%- endmacro %}


{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') or '' -%}
    {%- set attached = graph.nodes.get(model.attached_node) if model.attached_node else none -%}
    {%- if '__untested__' in where and attached and attached.config.materialized == 'view' -%}
        {%- set untested = untested_batches(relation) -%}
        {%- if untested is none -%}
            {%- do return(relation) -%}
        {%- endif -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where | replace('__untested__', untested) ~ ') dbt_subquery') -%}
    {%- elif '__untested__' in where -%}
        {%- set since = untested_since(relation) -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where | replace('__untested__', since) ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(dbt.default__get_where_subquery(relation)) -%}
{%- endmacro %}


{#- For each model whose tests look at untested rows only: when every such test of it ran in this
    build and passed, its rows up to the latest built (of a view: the batches noted) are tested. -#}
{% macro record_tested_rows(results) -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set outcome = {} -%}
    {%- for result in results if result.node.resource_type == 'test' -%}
        {%- do outcome.update({result.node.unique_id: result.status}) -%}
    {%- endfor -%}
    {%- set passed = [] -%}
    {%- for model_id, tests in scoped_tests().items() -%}
        {%- set statuses = [] -%}
        {%- for test in tests -%}
            {%- do statuses.append(outcome.get(test.unique_id)) -%}
        {%- endfor -%}
        {%- if statuses | reject('in', ['pass', 'warn']) | list | length == 0 -%}
            {%- do passed.append(graph.nodes[model_id]) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if passed %}
        begin;
        {%- for model in passed %}
            {%- if model.config.materialized == 'view' %}
            update {{ tested_batches_table() }} set passed = true
            where model_name = '{{ model.alias }}' and not passed;
            {%- else %}
            delete from {{ tested_through_table() }} where model_name = '{{ model.alias }}';
            insert into {{ tested_through_table() }} (model_name, tested_through)
            select '{{ model.alias }}', max(built_at)
            from {{ model.schema }}.{{ model.alias }}
            having max(built_at) is not null;
            {%- endif %}
        {%- endfor %}
        commit;
    {%- endif %}
{%- endmacro %}
