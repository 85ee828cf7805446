{#
    How dbt applies a data test's `where` config (select * from <model> where <where>), with one
    change: the batch's start, which the hourly tests name as the subquery
    (select after_load_id from dbt_state.batch), is put in as the literal batch_after() reads, so
    DuckDB plans the test knowing how few rows are new (macros/batch.sql).
#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- set where = where | replace('(select after_load_id from dbt_state.batch)', batch_after()) -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}
