{#
    Listening sessions of a relation of events (user_id, episode_id, event_type, event_at,
    duration_seconds), as a query: a user's consecutive events (any episode) with gaps of at most
    var('session_gap_minutes') form one session; listened seconds add up play segments. Used by
    fct_listening_sessions and by the nightly test that rebuilds it.
#}
{% macro session_gap() -%}
    interval '{{ var("session_gap_minutes") | int }} minutes'
{%- endmacro %}

{#
    Ordered by the instant alone, a cheaper sort than with tie-breakers, and exact whatever order
    events at one instant come in: of those, only the first in the lag's order can start a session
    (the others are 0 seconds after it), and the running count's frame (range) takes all of them
    at once, so they get the same session number.
#}
{% macro sessions_of(events) -%}
    with previous as (
        select
            *,
            lag(event_at) over (partition by user_id order by event_at) as previous_at
        from {{ events }}
    ),

    numbered as (
        select
            *,
            sum(case when previous_at is null or event_at - previous_at > {{ session_gap() }} then 1 else 0 end)
                over (
                    partition by user_id order by event_at
                    range between unbounded preceding and current row
                ) as session_number
        from previous
    ),

    sessions as (
        select
            user_id,
            session_number,
            min(event_at) as session_start_at,
            max(event_at) as session_end_at,
            count(*) as events,
            count(distinct episode_id) as distinct_episodes,
            cast(coalesce(sum(case when event_type = 'play' then duration_seconds end), 0) as bigint) as listened_seconds
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
{%- endmacro %}
