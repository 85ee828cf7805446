{#
    Spark (--engine spark): what the DuckDB warehouse gives the models for free. The contract's
    silver rows arrive as Parquet folders under var('spark_home') (flows/spark_engine.py publishes them)
    and are registered here as the podcast_app source's tables. Spark builds rebuild every model
    (--full-refresh): Parquet tables cannot delete rows, so the keyed incremental strategies
    (delete+insert, replace_spans) exist on DuckDB only, and a build without --full-refresh is
    refused rather than appending a batch over a table's old rows.
#}

{% macro spark__begin_batch() -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set silver = var('spark_home') ~ '/silver' -%}
    {%- set statements = ['create database if not exists dbt_state'] -%}
    {%- set through = [] -%}
    {%- for source in graph.sources.values() if source.source_name == 'podcast_app' -%}
        {%- do statements.append('create database if not exists ' ~ source.schema) -%}
        {%- do statements.append('drop table if exists ' ~ source.relation_name) -%}
        {%- set location = silver ~ '/' ~ source.name -%}
        {%- do statements.append(
            'create table ' ~ source.relation_name ~ " using parquet location '" ~ location ~ "'"
        ) -%}
        {%- do through.append(
            "coalesce((select max(_dlt_load_id) from " ~ source.relation_name ~ "), '')"
        ) -%}
    {%- endfor -%}
    {%- do statements.append(
        'create table if not exists dbt_state.processed_loads (through_load_id string, '
        ~ 'full_refresh boolean, built_at timestamp) using parquet'
    ) -%}
    {%- if flags.WHICH in ('build', 'run') -%}
        {%- if not flags.FULL_REFRESH -%}
            {{ exceptions.raise_compiler_error('on Spark every build is a --full-refresh') }}
        {%- endif -%}
        {%- do statements.append('drop table if exists dbt_state.batch') -%}
        {%- do statements.append(
            "create table dbt_state.batch using parquet as select '' as after_load_id, greatest("
            ~ through | join(', ') ~ ") as through_load_id, true as full_refresh, now() as started_at"
        ) -%}
    {%- endif -%}
    {%- for statement in statements -%}
        {%- do run_query(statement) -%}
    {%- endfor -%}
{%- endmacro %}
