-- One row per deduplicated listening event. Incremental: the batch's keys (int_events__deduplicated)
-- replace their rows here (delete+insert). Hourly, keys are only added or replaced, never removed:
-- rows leave silver only on a contract change or a quarantine replay, which rebuild with
-- --full-refresh. event_date rides along in the key (it follows from event_at) so the delete reads
-- only the days the batch touches where the table is laid out by day.
{{
    config(
        materialized='incremental',
        unique_key=['event_key', 'event_date'],
        incremental_strategy=incremental_strategy('delete+insert'),
        on_schema_change='fail',
    )
}}

with events as (
    select * from {{ ref('int_events__deduplicated') }}
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
