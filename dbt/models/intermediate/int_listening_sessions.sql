-- Listening sessions: a user's consecutive events (any episode) with gaps of at most
-- var('session_gap_minutes') (30) form one session. Listened seconds add up play segments.
with events as (
    select user_id, episode_id, event_type, event_at, duration_seconds
    from {{ ref('int_events__deduplicated') }}
),

gaps as (
    select
        *,
        case
            when lag(event_at) over (partition by user_id order by event_at, event_type, episode_id) is null
                then 1
            when event_at - lag(event_at) over (partition by user_id order by event_at, event_type, episode_id)
                > interval '{{ var("session_gap_minutes") | int }} minutes'
                then 1
            else 0
        end as starts_session
    from events
),

numbered as (
    select
        *,
        sum(starts_session) over (
            partition by user_id order by event_at, event_type, episode_id rows unbounded preceding
        ) as session_number
    from gaps
),

sessions as (
    select
        user_id,
        session_number,
        min(event_at) as session_start_at,
        max(event_at) as session_end_at,
        count(*) as events,
        count(distinct episode_id) as distinct_episodes,
        coalesce(sum(case when event_type = 'play' then duration_seconds end), 0) as listened_seconds
    from numbered
    group by user_id, session_number
)

select
    {{ surrogate_key(['user_id', 'session_start_at']) }} as session_key,
    user_id,
    session_start_at,
    session_end_at,
    cast(session_start_at as date) as session_date,
    {{ dbt.datediff('session_start_at', 'session_end_at', 'second') }} as session_duration_seconds,
    events,
    distinct_episodes,
    listened_seconds
from sessions
