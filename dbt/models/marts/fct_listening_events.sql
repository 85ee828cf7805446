-- One row per deduplicated listening event. Incremental: the batch's keys (int_events__deduplicated)
-- replace their rows here (delete+insert). Hourly, keys are only added or replaced, never removed:
-- rows leave silver only on a contract change or a quarantine replay, which rebuild with
-- --full-refresh. The rows are laid out by day (macros/engine_sql.sql), and event_date rides along
-- in the key (it follows from event_at): the delete, and the models reading the days a batch
-- touches, skip the rest of the history.
{{
    config(
        materialized='incremental',
        unique_key=['event_key', 'event_date'],
        incremental_strategy=incremental_strategy('delete+insert'),
        on_schema_change='fail',
        partition_by=partitioned_by('event_date'),
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
{{ laid_out_by('event_date') }}
