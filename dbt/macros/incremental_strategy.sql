{#
    A model's incremental strategy on the engine building it: the model names the strategy it is
    written for (delete+insert, replace_spans, append); on Spark, which rebuilds every model
    (macros/spark.sql), Parquet tables take the strategy Spark has for them, insert_overwrite.
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
