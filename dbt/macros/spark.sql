{#
    Spark (--engine spark): what the DuckDB warehouse gives the models for free. The contract's
    silver rows arrive as Parquet folders under var('spark_home') (flows/spark_silver.py publishes them)
    and are registered here as the podcast_app source's tables; the batch is the same as on DuckDB
    (macros/batch.sql), and the incremental models write it with the strategies of
    macros/spark_incremental.sql.
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
    {%- do statements.append(
        'create table if not exists dbt_state.batch (after_load_id string, through_load_id string, '
        ~ 'full_refresh boolean, started_at timestamp) using parquet'
    ) -%}
    {%- if flags.WHICH in ('build', 'run') -%}
        {%- set after = "''" -%}
        {%- if not flags.FULL_REFRESH -%}
            {#- A full refresh that did not finish left incremental models out of step. -#}
            {%- do statements.append(
                "select raise_error('the last --full-refresh build did not finish: build with --full-refresh') "
                ~ 'from dbt_state.batch where full_refresh and started_at > '
                ~ "coalesce((select max(built_at) from dbt_state.processed_loads), timestamp'0001-01-01')"
            ) -%}
            {%- set ns = namespace(all_built=true) -%}
            {%- for node in graph.nodes.values()
                    if node.resource_type == 'model' and node.config.materialized == 'incremental' -%}
                {%- if adapter.get_relation(none, node.schema, node.alias) is none -%}
                    {%- set ns.all_built = false -%}
                {%- endif -%}
            {%- endfor -%}
            {#- an incremental model not built yet: it and its neighbours read every load -#}
            {%- if ns.all_built -%}
                {%- set after = "coalesce((select max(through_load_id) from dbt_state.processed_loads), '')"
                -%}
            {%- endif -%}
        {%- endif -%}
        {%- do statements.append('drop table if exists dbt_state.batch') -%}
        {%- do statements.append(
            'create table dbt_state.batch using parquet as select ' ~ after ~ ' as after_load_id, greatest('
            ~ through | join(', ') ~ ') as through_load_id, ' ~ (flags.FULL_REFRESH | lower) ~ ' as full_refresh, '
            ~ 'cast(now() as timestamp) as started_at'
        ) -%}
    {%- endif -%}
    {%- for statement in statements -%}
        {%- do run_query(statement) -%}
    {%- endfor -%}
{%- endmacro %}
