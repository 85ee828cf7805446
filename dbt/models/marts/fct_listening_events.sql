-- One row per deduplicated listening event. Incremental by dlt load id: only keys whose winning
-- row came in a load newer than the table's latest are replaced; keys gone from the valid set
-- (after a contract change) are deleted, so incremental and full-refresh builds agree.
{{
    config(
        materialized='incremental',
        unique_key='event_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="delete from {{ this }} where event_key not in (select event_key from {{ ref('int_events__deduplicated') }})",
    )
}}

with events as (
    select * from {{ ref('int_events__deduplicated') }}
    {% if is_incremental() %}
    where load_id > (select coalesce(max(load_id), '') from {{ this }})
    {% endif %}
)

select
    event_key,
    user_id,
    episode_id,
    event_type,
    event_at,
    event_date,
    duration_seconds,
    load_id
from events
