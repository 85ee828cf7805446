-- Reconciliation: fact rows = distinct business keys of valid events, and every valid event's
-- key is in the fact table exactly once. Returns the offending keys. Reads every row: nightly.
{{ config(tags=['nightly']) }}

with valid_keys as (
    select distinct {{ surrogate_key(['user_id', 'episode_id', 'event_type', 'event_at']) }} as event_key
    from {{ ref('stg_podcast_app__events') }}
),

fact_keys as (
    select event_key, count(*) as copies
    from {{ ref('fct_listening_events') }}
    group by event_key
)

select coalesce(v.event_key, f.event_key) as event_key, f.copies
from valid_keys as v
full outer join fact_keys as f on v.event_key = f.event_key
where f.copies is null or f.copies <> 1 or v.event_key is null
