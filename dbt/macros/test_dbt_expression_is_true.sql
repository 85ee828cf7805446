{# Generic test: every row satisfies `<column> <expression>` (dbt_utils.expression_is_true, written here). #}
{% test dbt_expression_is_true(model, column_name, expression) %}
    select * from {{ model }} where not ({{ column_name }} {{ expression }})
{% endtest %}
