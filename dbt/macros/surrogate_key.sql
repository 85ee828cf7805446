{#
    A stable surrogate key: md5 of the fields joined with a separator, nulls spelled out.
    (dbt_utils.generate_surrogate_key without the package hub, which these machines cannot reach.)
#}
{% macro surrogate_key(fields) -%}
    md5(
    {%- for field in fields %}
        coalesce(cast({{ field }} as {{ dbt.type_string() }}), '_null_')
        {%- if not loop.last %} || '|' || {% endif %}
    {%- endfor %}
    )
{%- endmacro %}
