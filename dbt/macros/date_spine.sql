{#
    One row per day from start_date to end_date inclusive, as column date_day: a recursive CTE,
    which DuckDB, Postgres, Snowflake and BigQuery-style engines all run; on Spark, a sequence.
#}
{% macro date_spine(start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__date_spine(start_date, end_date) -%}
    with recursive spine(date_day) as (
        select cast({{ start_date }} as date)
        union all
        select cast({{ dbt.dateadd('day', 1, 'date_day') }} as date)
        from spine
        where date_day < cast({{ end_date }} as date)
    )
    select date_day from spine
{%- endmacro %}

{% macro spark__date_spine(start_date, end_date) -%}
    select explode(sequence(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day)) as date_day
{%- endmacro %}
