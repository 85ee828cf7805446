-- One row per listener with at least one valid event: sessions, average session length,
-- episodes started (a play) and completed (a complete).
with sessions as (
    select
        user_id,
        count(*) as sessions,
        avg(session_duration_seconds) as avg_session_duration_seconds
    from {{ ref('fct_listening_sessions') }}
    group by user_id
),

episodes as (
    select
        user_id,
        count(distinct case when event_type = 'play' then episode_id end) as episodes_started,
        count(distinct case when event_type = 'complete' then episode_id end) as episodes_completed
    from {{ ref('fct_listening_events') }}
    group by user_id
)

select
    episodes.user_id,
    coalesce(sessions.sessions, 0) as sessions,
    sessions.avg_session_duration_seconds,
    episodes.episodes_started,
    episodes.episodes_completed
from episodes
left join sessions on sessions.user_id = episodes.user_id
