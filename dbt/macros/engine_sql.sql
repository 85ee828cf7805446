{#
    SQL each engine spells its own way, for the expressions the models share. Each macro has the
    DuckDB spelling as default__ and Spark's as spark__.
#}

{# ISO day of the week of a date: Monday 1 to Sunday 7. #}
{% macro iso_day_of_week(date_expression) -%}
    {{ return(adapter.dispatch('iso_day_of_week')(date_expression)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(date_expression) -%}
    extract(isodow from {{ date_expression }})
{%- endmacro %}

{% macro spark__iso_day_of_week(date_expression) -%}
    extract(dow_iso from {{ date_expression }})
{%- endmacro %}

{# A date `days` days after a date (before it when negative), as a date. #}
{% macro add_days(date_expression, days) -%}
    {{ return(adapter.dispatch('add_days')(date_expression, days)) }}
{%- endmacro %}

{% macro default__add_days(date_expression, days) -%}
    (cast({{ date_expression }} as date) + {{ days | int }})
{%- endmacro %}

{% macro spark__add_days(date_expression, days) -%}
    date_add(cast({{ date_expression }} as date), {{ days | int }})
{%- endmacro %}

{#
    The rows of a large table laid out by a column, for the engine's pruning: in DuckDB the rows
    are stored in the order they are inserted, and each row group keeps the least and greatest
    value of every column, so a query asking for a few days skips every group outside them. The
    hourly builds ask for the days their batch touches. Spark's tables do not need it here.
#}
{% macro laid_out_by(column) -%}
    {{ return(adapter.dispatch('laid_out_by')(column)) }}
{%- endmacro %}

{% macro default__laid_out_by(column) -%}
    order by {{ column }}
{%- endmacro %}

{% macro spark__laid_out_by(column) -%}
{%- endmacro %}
