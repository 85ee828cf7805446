-- One row per listening session (see int_listening_sessions for the 30-minute rule).
select
    session_key,
    user_id,
    session_start_at,
    session_end_at,
    session_date,
    session_duration_seconds,
    events,
    distinct_episodes,
    listened_seconds
from {{ ref('int_listening_sessions') }}
