{#
    Incremental strategy `replace_spans` (dbt calls get_incremental_<strategy>_sql): for each
    unique_key value among the new rows, delete the target rows whose `span_start` lies between
    the earliest `span_start` and the latest `span_end` of that key's new rows, then insert the new
    rows. A model that recomputes every row of a key over a stretch of time (sessions of a user)
    replaces that stretch whole, so rows the new ones absorb (sessions merged away) disappear.
    Model config: unique_key (one column), span_start, span_end; incremental_predicates are ANDed.
#}
{% macro get_incremental_replace_spans_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set span_start = config.require('span_start') -%}
    {%- set span_end = config.require('span_end') -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- if key is not string -%}
        {{ exceptions.raise_compiler_error('replace_spans needs unique_key to be one column, got: ' ~ key) }}
    {%- endif -%}

    delete from {{ target }} as target_rows
    using {{ key_spans(source, key, span_start, span_end) }} as spans
    where {{ in_key_span('target_rows', 'spans', key, span_start) }}
        {%- for predicate in arg_dict['incremental_predicates'] or [] %}
        and {{ predicate }}
        {%- endfor %};

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
{%- endmacro %}

{#
    The rule replace_spans replaces by, shared with Spark's overwrite (macros/spark_incremental.sql):
    key_spans is each key's stretch among the new rows, in_key_span whether a row of `rows` starts
    in its key's stretch of `spans`.
#}
{% macro key_spans(source, key, span_start, span_end) -%}
    (
        select {{ key }}, min({{ span_start }}) as span_from, max({{ span_end }}) as span_to
        from {{ source }}
        group by {{ key }}
    )
{%- endmacro %}

{% macro in_key_span(rows, spans, key, span_start) -%}
    {{ rows }}.{{ key }} = {{ spans }}.{{ key }}
        and {{ rows }}.{{ span_start }} between {{ spans }}.span_from and {{ spans }}.span_to
{%- endmacro %}
