{#
    The reporting date of the answer models: var('as_of') (YYYY-MM-DD) or, when empty, the date
    of the latest valid event (the last day of dim_date, which spans the events' days). The value
    is checked here, so only a date literal reaches SQL.
#}
{% macro as_of_date() -%}
    {%- set as_of = var('as_of', '') | string | trim -%}
    {%- if as_of -%}
        {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', as_of) -%}
            {{ exceptions.raise_compiler_error("var as_of must be a date YYYY-MM-DD, got: " ~ as_of) }}
        {%- endif -%}
        cast('{{ as_of }}' as date)
    {%- else -%}
        (select max(date_day) from {{ ref('dim_date') }})
    {%- endif -%}
{%- endmacro %}
