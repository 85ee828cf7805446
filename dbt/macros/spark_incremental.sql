{#
    The incremental strategies on Spark, whose Parquet tables cannot delete rows: every
    incremental model takes dbt-spark's insert_overwrite (macros/incremental_strategy.sql), and
    this override of its SQL writes what the model's DuckDB strategy would leave: the target's
    rows the new ones do not replace, plus the new rows. unique_key with span_start and span_end
    replaces a key's rows starting in its new rows' stretch (replace_spans); unique_key alone,
    the rows with a new row's key (delete+insert); neither appends.

    With partition_by (a day: partitioned_by below), only the days holding new or replaced rows
    are read and overwritten, and a day left without rows is dropped after the overwrite;
    without it, the whole table is written again. The rows are first collected in a work table:
    Spark does not overwrite a table the same statement reads.
#}
{% macro get_insert_overwrite_sql(source_relation, target_relation, existing_relation) -%}
    {%- set key = config.get('unique_key') -%}
    {%- if config.get('incremental_predicates') -%}
        {{ exceptions.raise_compiler_error('incremental_predicates are not supported on Spark') }}
    {%- endif -%}
    {%- do check_partitioning(target_relation) -%}
    {%- if not key -%}
        {{ return(get_insert_into_sql(source_relation, target_relation)) }}
    {%- endif -%}
    {%- set keys = [key] if key is string else key -%}
    {%- set span_start = config.get('span_start') -%}
    {%- set partition = config.get('partition_by') -%}
    {%- set columns = adapter.get_columns_in_relation(target_relation) | map(attribute='quoted') -%}
    {%- set columns = columns | join(', ') -%}
    {%- set new_rows = target_relation.identifier ~ '__dbt_new' -%}
    {%- set work = target_relation.identifier ~ '__dbt_merged' -%}
    {%- set work = target_relation.incorporate(path={'identifier': work}) -%}

    {#- the batch's rows, computed once for the statements below -#}
    {%- do run_query('drop view if exists ' ~ new_rows) -%}
    {%- do run_query('cache table ' ~ new_rows ~ ' as select * from ' ~ source_relation) -%}

    {%- if span_start -%}
        {%- if key is not string -%}
            {{ exceptions.raise_compiler_error('replace_spans needs unique_key to be one column: ' ~ key) }}
        {%- endif -%}
        {%- set span_end = config.require('span_end') -%}
        {%- set matches -%}
            {{ key_spans(new_rows, key, span_start, span_end) }} as new_keys
            on {{ in_key_span('target_rows', 'new_keys', key, span_start) }}
        {%- endset -%}
        {#- the days the replaced rows can lie in (the partition is the day of span_start) -#}
        {%- set reach -%}
            select cast(min({{ span_start }}) as date), cast(max({{ span_end }}) as date) from {{ new_rows }}
        {%- endset -%}
        {%- set reach = run_query(reach).rows[0] -%}
        {%- if not partition -%}
            {%- set replaced_days = 'true' -%}
        {%- elif reach[0] is none -%}
            {%- set replaced_days = 'false' -%}
        {%- else -%}
            {%- set replaced_days -%}
                target_rows.{{ partition }} between date'{{ reach[0] }}' and date'{{ reach[1] }}'
            {%- endset -%}
        {%- endif -%}
    {%- else -%}
        {%- set matches -%}
            (select distinct {{ keys | join(', ') }} from {{ new_rows }}) as new_keys
            on {% for column in keys -%}
                target_rows.{{ column }} = new_keys.{{ column }}{{ ' and ' if not loop.last }}
            {%- endfor %}
        {%- endset -%}
        {%- set replaced_days = 'true' -%}
    {%- endif -%}

    {#- with the partition in the key, a replaced row's day holds its new row -#}
    {%- set drops_days = partition and partition not in keys -%}
    {%- set replaced_partitions -%}
        select distinct target_rows.{{ partition }}
        from {{ target_relation }} as target_rows
        left semi join {{ matches }}
        where {{ replaced_days }}
    {%- endset -%}

    {%- do run_query('drop table if exists ' ~ work) -%}
    {%- set collect -%}
        create table {{ work }} using parquet as
        select {{ columns }}
        from {{ target_relation }} as target_rows
        left anti join {{ matches }}
        {%- if partition %}
        where target_rows.{{ partition }} in (
            select {{ partition }} from {{ new_rows }}
            {%- if drops_days %}
            union
            {{ replaced_partitions }}
            {%- endif %}
        )
        {%- endif %}
        union all
        select {{ columns }} from {{ new_rows }}
    {%- endset -%}
    {%- do run_query(collect) -%}
    {%- set overwrite -%}
        insert overwrite table {{ target_relation }}
        {{ partition_cols(label="partition") }}
        select {{ columns }} from {{ work }}
    {%- endset -%}
    {%- do run_query(overwrite) -%}

    {#- after the overwrite, so that a build stopped before it finds the replaced rows again -#}
    {%- if drops_days -%}
        {%- set emptied -%}
            select replaced.{{ partition }}
            from ({{ replaced_partitions }}) as replaced
            left anti join (select distinct {{ partition }} from {{ work }}) as written
                on replaced.{{ partition }} <=> written.{{ partition }}
        {%- endset -%}
        {%- for row in run_query(emptied) -%}
            {%- do run_query(
                'alter table ' ~ target_relation ~ ' drop if exists partition ('
                ~ partition ~ " = '" ~ row[0] ~ "')"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- do run_query('drop view if exists ' ~ new_rows) -%}
    {%- do run_query('drop table if exists ' ~ work) -%}

    refresh table {{ target_relation }}
{%- endmacro %}

{#
    Stop with the message of a changed model (flows/dbt_build.py OUT_OF_SYNC: the flow then
    rebuilds) when the table is partitioned otherwise than the model says, e.g. a table built
    before the model was partitioned.
#}
{% macro check_partitioning(relation) -%}
    {%- set wanted = config.get('partition_by') -%}
    {%- set ns = namespace(section=false, columns=[]) -%}
    {%- for row in run_query('describe table ' ~ relation) -%}
        {%- if row[0] == '# Partition Information' -%}
            {%- set ns.section = true -%}
        {%- elif ns.section and row[0] and not row[0].startswith('#') -%}
            {%- do ns.columns.append(row[0]) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if ns.columns != ([wanted] if wanted else []) -%}
        {{ exceptions.raise_compiler_error(
            'The source and target schemas on this incremental model are out of sync: partitioned by '
            ~ ns.columns ~ ', the model says ' ~ wanted
        ) }}
    {%- endif -%}
{%- endmacro %}

{#
    The column a model's table is partitioned by on Spark, so that an incremental build writes
    only the days it reaches; none on DuckDB, whose tables are laid out by day instead
    (laid_out_by in macros/engine_sql.sql).
#}
{% macro partitioned_by(column) -%}
    {{ return(adapter.dispatch('partitioned_by')(column)) }}
{%- endmacro %}

{% macro default__partitioned_by(column) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__partitioned_by(column) -%}
    {{ return(column) }}
{%- endmacro %}
