{#
    The batch boundary every incremental model shares (see models/_docs.md, "Incremental builds").

    dbt_state.processed_loads: one row per build that ran every incremental model and in which every
    node succeeded, with the highest dlt load id in silver when that build started.
    dbt_state.batch: one row, rewritten when a build (or run) starts: the loads after
    `after_load_id` are the batch ('' = every load: a --full-refresh, or an incremental model that
    does not exist yet), up to `through_load_id`, what the build records when it succeeds.

    A build that fails records nothing, so the next one processes the same loads again (plus any
    new ones): every incremental model replaces the groups the batch touches, recomputed from the
    source of truth, so processing a batch twice gives what processing it once does.
#}

{#
    on-run-start. Plain SQL on purpose: asking the adapter whether a relation exists can open a
    transaction that the hook runner then rolls back, with this hook's writes.
#}
{% macro begin_batch() -%}
    {{ return(adapter.dispatch('begin_batch')()) }}
{%- endmacro %}

{% macro default__begin_batch() -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    create schema if not exists dbt_state;
    create table if not exists dbt_state.processed_loads (
        through_load_id varchar not null, full_refresh boolean not null, built_at timestamp not null
    );
    create table if not exists dbt_state.batch (
        after_load_id varchar not null,
        through_load_id varchar not null,
        full_refresh boolean not null,
        started_at timestamp not null
    );
    {%- if flags.WHICH in ('build', 'run') %}
        {%- set full_refresh = true if flags.FULL_REFRESH else false -%}
        {%- set incremental = [] -%}
        {%- for node in graph.nodes.values()
                if node.resource_type == 'model' and node.config.materialized == 'incremental' -%}
            {%- do incremental.append(
                "('" ~ node.database ~ "', '" ~ node.schema ~ "', '" ~ node.alias ~ "')"
            ) -%}
        {%- endfor -%}
        {%- if not full_refresh %}
    -- A full refresh that did not finish left incremental models out of step: finish it first.
    select error('the last --full-refresh build did not finish: build with --full-refresh')
    from dbt_state.batch
    where full_refresh
        and started_at > coalesce((select max(built_at) from dbt_state.processed_loads), '-infinity');
        {%- endif %}
    delete from dbt_state.batch;
    insert into dbt_state.batch
    select
        {% if full_refresh -%}
        ''
        {%- else -%}
        case
            -- an incremental model not built yet: it and its neighbours read every load
            when (
                select count(*) from information_schema.tables
                where (table_catalog, table_schema, table_name) in ({{ incremental | join(', ') }})
            ) < {{ incremental | length }} then ''
            else coalesce((select max(through_load_id) from dbt_state.processed_loads), '')
        end
        {%- endif %} as after_load_id,
        greatest(''
        {%- for source in graph.sources.values() if source.source_name == 'podcast_app' -%}
            , coalesce((select max(_dlt_load_id) from {{ source.relation_name }}), '')
        {%- endfor -%}
        ) as through_load_id,
        {{ full_refresh }} as full_refresh,
        now() as started_at;
    {%- endif %}
{%- endmacro %}

{# on-run-end: the batch is processed only if every incremental model ran and nothing failed (the
   same SQL on Spark). #}
{% macro end_batch(results) -%}
    {%- if not execute or flags.WHICH not in ('build', 'run') -%}{{ return('') }}{%- endif -%}
    {%- set succeeded = [] -%}
    {%- for result in results -%}
        {%- if result.status not in ('success', 'pass', 'warn') -%}{{ return('') }}{%- endif -%}
        {%- do succeeded.append(result.node.unique_id) -%}
    {%- endfor -%}
    {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.config.materialized == 'incremental' -%}
        {%- if node.unique_id not in succeeded -%}{{ return('') }}{%- endif -%}
    {%- endfor -%}
    insert into dbt_state.processed_loads
    select through_load_id, full_refresh, now() from dbt_state.batch
{%- endmacro %}

{#
    The load id the batch starts after ('' = every load), as a SQL literal read from dbt_state.batch
    when the model runs: a literal lets DuckDB prune by the column's min/max and size its joins (with
    the subquery it may build a hash table on the whole fact). Before execution, or without the
    table, the subquery itself.
#}
{% macro batch_after() -%}
    {%- set subquery = '(select after_load_id from dbt_state.batch)' -%}
    {%- if not execute or adapter.get_relation(this.database, 'dbt_state', 'batch') is none -%}
        {{ return(subquery) }}
    {%- endif -%}
    {%- set rows = run_query('select after_load_id from dbt_state.batch').rows -%}
    {%- if rows | length != 1 -%}{{ return(subquery) }}{%- endif -%}
    {{ return("'" ~ (rows[0][0] | replace("'", "''")) ~ "'") }}
{%- endmacro %}

{#
    Rows of the batch: `<column> > batch_after()`. The hourly data tests spell the same condition
    out in their `where` (a test's config is rendered when the project is parsed, without macros).
#}
{% macro in_batch(column='load_id') -%}
    {{ column }} > {{ batch_after() }}
{%- endmacro %}
