-- One row per listener with at least one valid event: sessions, average session length,
-- episodes started (a play) and completed (a complete). Incremental (delete+insert on user_id):
-- the listeners the batch touches are computed again from their sessions and events.
{{
    config(
        materialized='incremental',
        unique_key='user_id',
        incremental_strategy=incremental_strategy('delete+insert'),
        on_schema_change='fail',
    )
}}

-- (Each scan of the fact is its own import, read once: a CTE read twice would be materialized whole.)
with events as (
    select user_id, episode_id, event_type
    from {{ ref('fct_listening_events') }}
),

{% if is_incremental() %}
touched as (
    select distinct user_id from {{ ref('fct_listening_events') }}
    where {{ in_batch() }}
),
{% endif %}

sessions as (
    select
        user_id,
        count(*) as sessions,
        avg(session_duration_seconds) as avg_session_duration_seconds
    from {{ ref('fct_listening_sessions') }}
    {% if is_incremental() %}
    where user_id in (select user_id from touched)
    {% endif %}
    group by user_id
),

episodes as (
    select
        user_id,
        count(distinct case when event_type = 'play' then episode_id end) as episodes_started,
        count(distinct case when event_type = 'complete' then episode_id end) as episodes_completed
    from events
    {% if is_incremental() %}
    where user_id in (select user_id from touched)
    {% endif %}
    group by user_id
)

select
    episodes.user_id,
    coalesce(sessions.sessions, 0) as sessions,
    sessions.avg_session_duration_seconds,
    episodes.episodes_started,
    episodes.episodes_completed
from episodes
left join sessions on episodes.user_id = sessions.user_id
