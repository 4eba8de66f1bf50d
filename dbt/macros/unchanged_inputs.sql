{#-
    A model rebuilt whole is skipped when nothing it is built from changed (docs/architecture.md,
    "Incremental builds"). Every model notes a version in `dbt_model_versions` when it builds: a
    table or view the digest of its compiled SQL and the versions of what it reads, an incremental
    model the number of its rows and the latest time one was built. What a model reads is a model
    (its noted version), a seed (its file's checksum) or a source (the batches its rows came from,
    or every row of a source without batches). A table whose digest equals the version it noted
    is left as it is; `--full-refresh` builds every table. A test notes its version the same way
    when it passes, and a build whose digest for it is the same passes it (`test_unless_unchanged`).
-#}


{% macro model_versions_table() -%}
    {{ target.schema }}.dbt_model_versions
{%- endmacro %}


{% macro model_versions_ddl() -%}
    create table if not exists {{ model_versions_table() }} (
        node_id varchar(300) not null,
        version varchar(64) not null
    )
{%- endmacro %}


{#- on-run-start: made once before the models run side by side (two sessions creating one table
    at once can collide on PostgreSQL). -#}
{% macro create_model_versions() -%}
    begin;
    {{ model_versions_ddl() }};
    commit;
{%- endmacro %}


{#- And where it is first read or written, so the macros also work in a project without the hook. -#}
{% macro ensure_model_versions() -%}
    {%- do run_query(model_versions_ddl()) -%}
{%- endmacro %}


{#- A source's rows as one value: counted, and hashed by batch when they carry one. -#}
{% macro source_version(node) -%}
    {%- set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.identifier) -%}
    {%- if relation is none -%}
        {{ return('absent') }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {%- set hashed = '_batch_id' if '_batch_id' in columns else 'source_rows' -%}
    {%- set query -%}
        select count(*) as n_rows, {{ adapter.dispatch('sum_of_hashes')(hashed) }} as hashes
        from {{ relation }} as source_rows
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {{ return(row[0] ~ ':' ~ row[1]) }}
{%- endmacro %}


{% macro default__sum_of_hashes(expression) -%}
    sum(cast(hashtext(cast({{ expression }} as text)) as bigint))
{%- endmacro %}


{% macro duckdb__sum_of_hashes(expression) -%}
    sum(hash({{ expression }}))
{%- endmacro %}


{#- The digest of this model's SQL and of the versions of what it reads; a read whose version is
    not known makes it this invocation's own, so it never matches a noted one. -#}
{% macro inputs_version() -%}
    {%- do ensure_model_versions() -%}
    {%- set parents = model.depends_on.nodes | unique | sort -%}
    {%- set noted = {} -%}
    {%- set models = [] -%}
    {%- for parent in parents if parent.startswith('model.') -%}
        {%- do models.append(parent) -%}
    {%- endfor -%}
    {%- if models -%}
        {%- set query -%}
            select node_id, version from {{ model_versions_table() }}
            where node_id in ('{{ models | join("', '") }}')
        {%- endset -%}
        {%- for row in run_query(query).rows -%}
            {%- do noted.update({row[0]: row[1]}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set parts = [local_md5(sql)] -%}
    {%- for parent in parents -%}
        {%- if parent.startswith('seed.') -%}
            {%- do parts.append(graph.nodes[parent].checksum.checksum) -%}
        {%- elif parent.startswith('source.') -%}
            {%- do parts.append(source_version(graph.sources[parent])) -%}
        {%- else -%}
            {%- do parts.append(noted.get(parent, invocation_id)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(local_md5(parts | join('|'))) }}
{%- endmacro %}


{% macro noted_version() -%}
    {%- set query -%}
        select version from {{ model_versions_table() }} where node_id = '{{ model.unique_id }}'
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {{ return(rows[0][0] if rows else none) }}
{%- endmacro %}


{% macro note_version(version) -%}
    {%- do ensure_model_versions() -%}
    {%- call statement('note_version') -%}
        delete from {{ model_versions_table() }} where node_id = '{{ model.unique_id }}';
        insert into {{ model_versions_table() }} (node_id, version) values ('{{ model.unique_id }}', '{{ version }}')
    {%- endcall -%}
    {%- do adapter.commit() -%}
{%- endmacro %}


{#- Build with `materialize` (the adapter's own materialization) unless the table exists and its
    inputs are as they were when it was last built; a kept table's result says `kept`. -#}
{% macro build_unless_unchanged(materialize) -%}
    {%- set version = inputs_version() -%}
    {%- if not should_full_refresh() and load_cached_relation(this) is not none and noted_version() == version -%}
        {%- do store_raw_result('main', message='kept', code='kept', rows_affected=0) -%}
        {{ return({'relations': [this.incorporate(type='table')]}) }}
    {%- endif -%}
    {%- set relations = materialize() -%}
    {%- do note_version(version) -%}
    {{ return(relations) }}
{%- endmacro %}


{#- Build with `materialize`, then note the inputs' version (a view reads its inputs at query time). -#}
{% macro build_noting_inputs(materialize) -%}
    {%- set version = inputs_version() -%}
    {%- set relations = materialize() -%}
    {%- do note_version(version) -%}
    {{ return(relations) }}
{%- endmacro %}


{#- Build with `materialize`, then note what the table holds now: its rows and the latest time one
    was built (`built_at`; a model without it notes a version of its own every build). -#}
{% macro build_noting_rows(materialize) -%}
    {%- set relations = materialize() -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- if 'built_at' in columns -%}
        {%- set row = run_query('select count(*), max(built_at) from ' ~ this).rows[0] -%}
        {%- do note_version(local_md5(row[0] ~ ':' ~ row[1])) -%}
    {%- else -%}
        {%- do note_version(invocation_id) -%}
    {%- endif -%}
    {{ return(relations) }}
{%- endmacro %}


{#- Run a test with `materialize` (dbt's own) unless, in a `dbt build`, its inputs are as they
    were when it last passed: then it passes without reading them again. A build notes the version of
    every model it selects before its tests run; `dbt test` alone and a full refresh run every test. -#}
{% macro test_unless_unchanged(materialize) -%}
    {%- set version = inputs_version() -%}
    {%- if flags.WHICH == 'build' and not should_full_refresh() and noted_version() == version -%}
        {%- call statement('main', fetch_result=True) -%}
            select 0 as failures, false as should_warn, false as should_error
        {%- endcall -%}
        {{ return({'relations': []}) }}
    {%- endif -%}
    {%- set relations = materialize() -%}
    {%- if load_result('main').table.rows[0][0] == 0 -%}
        {%- do note_version(version) -%}
    {%- endif -%}
    {{ return(relations) }}
{%- endmacro %}


{% materialization table, adapter='duckdb', supported_languages=['sql'] %}
    {{ return(build_unless_unchanged(dbt.materialization_table_duckdb)) }}
{% endmaterialization %}


{% materialization table, adapter='postgres', supported_languages=['sql'] %}
    {{ return(build_unless_unchanged(dbt.materialization_table_default)) }}
{% endmaterialization %}


{% materialization view, adapter='duckdb', supported_languages=['sql'] %}
    {{ return(build_noting_inputs(dbt.materialization_view_default)) }}
{% endmaterialization %}


{% materialization view, adapter='postgres', supported_languages=['sql'] %}
    {{ return(build_noting_inputs(dbt.materialization_view_default)) }}
{% endmaterialization %}


{% materialization incremental, adapter='duckdb', supported_languages=['sql'] %}
    {{ return(build_noting_rows(dbt.materialization_incremental_duckdb)) }}
{% endmaterialization %}


{% materialization incremental, adapter='postgres', supported_languages=['sql'] %}
    {{ return(build_noting_rows(dbt.materialization_incremental_default)) }}
{% endmaterialization %}


{% materialization test, adapter='duckdb' %}
    {{ return(test_unless_unchanged(dbt.materialization_test_default)) }}
{% endmaterialization %}


{% materialization test, adapter='postgres' %}
    {{ return(test_unless_unchanged(dbt.materialization_test_default)) }}
{% endmaterialization %}
