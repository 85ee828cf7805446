-- The batch's events, one row per business key (user, episode, event type, timestamp): the most
-- recently loaded line wins. The batch is the loads after the last successful build (every load
-- on a full refresh; macros/batch.sql). Load ids only grow, so when a key has a row in the batch,
-- its latest row is in the batch too: the winner here is the key's winner over all loads.
with events as (
    select * from {{ ref('stg_podcast_app__events') }}
    where {{ in_batch() }}
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
