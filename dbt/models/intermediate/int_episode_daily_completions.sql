-- One row per episode and UTC day with at least one complete: the completes that day (Q1 adds up
-- its 7 days). Incremental (delete+insert on the day and episode): the groups the batch's
-- completes fall in are counted again from the fact; a key's day and episode never change, so no
-- other group moves.
{{
    config(
        materialized='incremental',
        unique_key=['event_date', 'episode_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with completes as (
    select event_date, episode_id, load_id
    from {{ ref('fct_listening_events') }}
    where event_type = 'complete'
),

{% if is_incremental() %}
touched as (
    select distinct event_date, episode_id
    from completes
    where {{ in_batch() }}
),
{% endif %}

counted as (
    select completes.event_date, completes.episode_id, count(*) as completions
    from completes
    {% if is_incremental() %}
    inner join touched
        on touched.event_date = completes.event_date
        and touched.episode_id = completes.episode_id
    {% endif %}
    group by completes.event_date, completes.episode_id
)

select event_date, episode_id, completions from counted
