{#
    A model's incremental strategy on the engine building it: the model names the strategy it is
    written for (delete+insert, replace_spans, append); on Spark, whose Parquet tables cannot
    delete rows, every model takes insert_overwrite, which macros/spark_incremental.sql makes do
    what the model's own strategy does.
#}
{% macro incremental_strategy(strategy) -%}
    {{ return(adapter.dispatch('incremental_strategy')(strategy)) }}
{%- endmacro %}

{% macro default__incremental_strategy(strategy) -%}
    {{ return(strategy) }}
{%- endmacro %}

{% macro spark__incremental_strategy(strategy) -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}
