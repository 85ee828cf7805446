-- One row per episode and UTC day with at least one complete: the completes that day (Q1 adds up
-- its 7 days). Incremental (delete+insert on the day and episode): the groups the batch's
-- completes fall in are counted again from the fact; a key's day and episode never change, so no
-- other group moves.
{{
    config(
        materialized='incremental',
        unique_key=['event_date', 'episode_id'],
        incremental_strategy=incremental_strategy('delete+insert'),
        on_schema_change='fail',
        partition_by=partitioned_by('event_date'),
    )
}}

-- (Each scan of the fact is its own import, read once: a CTE read twice would be materialized whole.)
with completes as (
    select event_date, episode_id
    from {{ ref('fct_listening_events') }}
    where event_type = 'complete'
),

{% if is_incremental() %}
touched as (
    select distinct event_date, episode_id
    from {{ ref('fct_listening_events') }}
    where event_type = 'complete' and {{ in_batch() }}
),
{% endif %}

counted as (
    select event_date, episode_id, count(*) as completions
    from completes
    {% if is_incremental() %}
    -- a semi-join: an inner join here lets DuckDB count every group first, then join
    where (event_date, episode_id) in (select event_date, episode_id from touched)
    {% endif %}
    group by event_date, episode_id
)

select event_date, episode_id, completions from counted
