-- The incremental models derived from the fact equal what a rebuild from the fact gives:
-- sessions (recomputed with the same rule), the per listener-day and per episode-day
-- aggregates and agg_user_engagement (recomputed here with plain SQL). Returns one row per
-- difference, naming the model and the key. Reads every row: nightly.
{{ config(tags=['nightly']) }}
{#- named, not *: on Spark a partition column comes last -#}
{%- set session_columns = 'session_key, user_id, session_start_at, session_end_at, session_date, '
    ~ 'session_duration_seconds, events, distinct_episodes, listened_seconds' %}

with events as (
    select * from {{ ref('fct_listening_events') }}
),

-- sessions ----------------------------------------------------------------------------------
rebuilt_sessions as (
    {{ sessions_of('events') }}
),

session_differences as (
    select 'fct_listening_sessions' as model, session_key as difference_key
    from (
        (
            select {{ session_columns }} from rebuilt_sessions
            except
            select {{ session_columns }} from {{ ref('fct_listening_sessions') }}
        )
        union all
        (
            select {{ session_columns }} from {{ ref('fct_listening_sessions') }}
            except
            select {{ session_columns }} from rebuilt_sessions
        )
    )
),

-- completes per episode and day ---------------------------------------------------------------
rebuilt_episode_days as (
    select event_date, episode_id, count(*) as completions
    from events
    where event_type = 'complete'
    group by event_date, episode_id
),

episode_day_differences as (
    select 'int_episode_daily_completions' as model, concat_ws(' ', episode_id, event_date) as difference_key
    from (
        (
            select * from rebuilt_episode_days
            except
            select event_date, episode_id, completions from {{ ref('int_episode_daily_completions') }}
        )
        union all
        (
            select event_date, episode_id, completions from {{ ref('int_episode_daily_completions') }}
            except
            select * from rebuilt_episode_days
        )
    )
),

-- listening per listener and day (rate sums compared to 1e-9: summing order may differ) -------
rebuilt_user_days as (
    select
        events.user_id,
        events.event_date,
        count(distinct events.episode_id) as episodes_listened,
        count(*) filter (
            where events.event_type = 'complete'
            and episodes.is_in_reference and episodes.duration_seconds > 0
        ) as rated_completions,
        count(events.duration_seconds) filter (
            where events.event_type = 'complete'
            and episodes.is_in_reference and episodes.duration_seconds > 0
        ) as listen_through_rates,
        sum(cast(events.duration_seconds as double) / episodes.duration_seconds) filter (
            where events.event_type = 'complete'
            and episodes.is_in_reference and episodes.duration_seconds > 0
        ) as listen_through_rate_sum
    from events
    left join {{ ref('dim_episodes') }} as episodes on events.episode_id = episodes.episode_id
    where events.event_type in ('play', 'complete')
    group by events.user_id, events.event_date
),

user_day_differences as (
    select
        'int_user_daily_listening' as model,
        concat_ws(' ', coalesce(r.user_id, t.user_id), coalesce(r.event_date, t.event_date)) as difference_key
    from rebuilt_user_days as r
    full outer join {{ ref('int_user_daily_listening') }} as t
        on r.user_id = t.user_id and r.event_date = t.event_date
    where r.user_id is null
        or t.user_id is null
        or r.episodes_listened <> t.episodes_listened
        or r.rated_completions <> t.rated_completions
        or r.listen_through_rates <> t.listen_through_rates
        or (r.listen_through_rate_sum is null) <> (t.listen_through_rate_sum is null)
        or abs(r.listen_through_rate_sum - t.listen_through_rate_sum) > 1e-9
),

-- agg_user_engagement -------------------------------------------------------------------------
rebuilt_user_episodes as (
    select
        user_id,
        count(distinct case when event_type = 'play' then episode_id end) as episodes_started,
        count(distinct case when event_type = 'complete' then episode_id end) as episodes_completed
    from events
    group by user_id
),

rebuilt_user_sessions as (
    select user_id, count(*) as sessions, avg(session_duration_seconds) as avg_session_duration_seconds
    from rebuilt_sessions
    group by user_id
),

rebuilt_engagement as (
    select
        per_user.user_id,
        coalesce(per_session.sessions, 0) as sessions,
        per_session.avg_session_duration_seconds,
        per_user.episodes_started,
        per_user.episodes_completed
    from rebuilt_user_episodes as per_user
    left join rebuilt_user_sessions as per_session on per_user.user_id = per_session.user_id
),

engagement_differences as (
    select 'agg_user_engagement' as model, user_id as difference_key
    from (
        (
            select * from rebuilt_engagement
            except
            select * from {{ ref('agg_user_engagement') }}
        )
        union all
        (
            select * from {{ ref('agg_user_engagement') }}
            except
            select * from rebuilt_engagement
        )
    )
)

select * from session_differences
union all
select * from episode_day_differences
union all
select * from user_day_differences
union all
select * from engagement_differences
