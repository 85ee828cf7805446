-- One row per business key (user, episode, event type, timestamp): the most recently loaded line wins.
with events as (
    select * from {{ ref('stg_silver__events') }}
),

deduplicated as (
    {{ latest_per_key('events', ['user_id', 'episode_id', 'event_type', 'event_at']) }}
),

keyed as (
    select
        {{ surrogate_key(['user_id', 'episode_id', 'event_type', 'event_at']) }} as event_key,
        user_id,
        episode_id,
        event_type,
        event_at,
        cast(event_at as date) as event_date,
        duration_seconds,
        load_id
    from deduplicated
)

select * from keyed
