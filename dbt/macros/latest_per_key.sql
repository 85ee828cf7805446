{#
    Keep one row per key: the most recently loaded (latest dlt load id, then file, then line).
    Shared by reference staging ("latest version of a key wins") and event deduplication.
#}
{% macro latest_per_key(relation, key_columns) -%}
    select *
    from {{ relation }}
    qualify row_number() over (
        partition by {{ key_columns | join(', ') }}
        order by load_id desc, source_file desc, line_number desc
    ) = 1
{%- endmacro %}
