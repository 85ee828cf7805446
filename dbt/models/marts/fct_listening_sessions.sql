-- One row per listening session: a user's consecutive events (any episode) with gaps of at most
-- var('session_gap_minutes') (30) form one session (macros/sessions_of.sql).
--
-- Incremental, for the users the batch touches and only around their batch events. Say a user's
-- batch events lie in [first, last]. A session of theirs that ends before first - gap, or starts
-- after last + gap, is more than a gap away from every batch event: it stays as it is. The others
-- (the reached sessions) and the batch events cover one stretch of time, [span_start, span_end],
-- that holds no event of a session that stays (those are more than a gap away from the reached
-- ones too). The fact's events of that stretch are sessionized again, and the replace_spans
-- strategy deletes the user's sessions starting in the stretch before inserting the new ones:
-- two sessions a new event bridges become one, and the one merged away disappears.
{{
    config(
        materialized='incremental',
        incremental_strategy=incremental_strategy('replace_spans'),
        unique_key='user_id',
        span_start='session_start_at',
        span_end='session_end_at',
        on_schema_change='fail',
        partition_by=partitioned_by('session_date'),
    )
}}

-- (Each scan of the fact is its own import, read once: a CTE read twice would be materialized whole.)
with events as (
    select user_id, episode_id, event_type, event_at, duration_seconds
    from {{ ref('fct_listening_events') }}
),

{% if is_incremental() %}
batch_reach as (
    select user_id, min(event_at) as first_at, max(event_at) as last_at
    from {{ ref('fct_listening_events') }}
    where {{ in_batch() }}
    group by user_id
),

reached_sessions as (
    select sessions.user_id, sessions.session_start_at, sessions.session_end_at
    from {{ this }} as sessions
    inner join batch_reach on sessions.user_id = batch_reach.user_id
    where sessions.session_end_at >= batch_reach.first_at - {{ session_gap() }}
        and sessions.session_start_at <= batch_reach.last_at + {{ session_gap() }}
),

stretches as (
    select
        batch_reach.user_id,
        least(batch_reach.first_at, coalesce(min(reached_sessions.session_start_at), batch_reach.first_at))
            as span_start,
        greatest(batch_reach.last_at, coalesce(max(reached_sessions.session_end_at), batch_reach.last_at))
            as span_end
    from batch_reach
    left join reached_sessions on batch_reach.user_id = reached_sessions.user_id
    group by batch_reach.user_id, batch_reach.first_at, batch_reach.last_at
),

to_sessionize as (
    select events.*
    from events
    inner join stretches
        on events.user_id = stretches.user_id
            and events.event_at between stretches.span_start and stretches.span_end
),
{% else %}
to_sessionize as (
    select * from events
),
{% endif %}

sessionized as (
    {{ sessions_of('to_sessionize') }}
)

select * from sessionized
