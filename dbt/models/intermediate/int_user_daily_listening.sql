-- One row per listener and UTC day with a play or a complete: the different episodes played or
-- completed (Q3), and the day's listen-through rates (Q2): complete duration / episode length, for
-- completes of episodes in episodes.csv with a length > 0.
-- Incremental (delete+insert on user and day): the groups the batch's events fall in, and the
-- groups with completes of an episode whose reference row the batch changes (a new length, or the
-- episode arriving late), are computed again from the fact and dim_episodes. Laid out by day, like
-- the fact: the delete of the recomputed groups reads only their days.
{{
    config(
        materialized='incremental',
        unique_key=['user_id', 'event_date'],
        incremental_strategy=incremental_strategy('delete+insert'),
        on_schema_change='fail',
        partition_by=partitioned_by('event_date'),
    )
}}

-- (Each scan of the fact is its own import, read once: a CTE read twice would be materialized whole.)
with listened as (
    select user_id, event_date, episode_id, event_type, duration_seconds
    from {{ ref('fct_listening_events') }}
    where event_type in ('play', 'complete')
),

-- read by the incremental branch only, but imported outside it: dbt parses the model with
-- is_incremental() false, and a ref() only inside that branch could be missed in the DAG
episode_versions as (  -- noqa: ST03
    select episode_id, load_id from {{ ref('stg_podcast_app__episodes') }}
),

episodes as (
    select episode_id, is_in_reference, duration_seconds from {{ ref('dim_episodes') }}
),

{% if is_incremental() %}
changed_episodes as (
    select episode_id from episode_versions
    where {{ in_batch() }}
),

touched as (
    select user_id, event_date
    from {{ ref('fct_listening_events') }}
    where event_type in ('play', 'complete') and {{ in_batch() }}
    union
    select user_id, event_date
    from {{ ref('fct_listening_events') }}
    where event_type = 'complete'
        and episode_id in (select episode_id from changed_episodes)
),

to_aggregate as (
    select * from listened
    where (user_id, event_date) in (select user_id, event_date from touched)
),
{% else %}
to_aggregate as (
    select * from listened
),
{% endif %}

rated as (
    select
        to_aggregate.user_id,
        to_aggregate.event_date,
        to_aggregate.episode_id,
        -- a complete of an episode with a known length: it counts in Q2
        (
            to_aggregate.event_type = 'complete'
            and coalesce(episodes.is_in_reference and episodes.duration_seconds > 0, false)
        ) as is_rated,
        case
            when to_aggregate.event_type = 'complete'
                and episodes.is_in_reference and episodes.duration_seconds > 0
                then cast(to_aggregate.duration_seconds as double) / episodes.duration_seconds
        end as listen_through_rate
    from to_aggregate
    left join episodes on to_aggregate.episode_id = episodes.episode_id
)

select
    user_id,
    event_date,
    count(distinct episode_id) as episodes_listened,
    count(*) filter (where is_rated) as rated_completions,
    count(listen_through_rate) as listen_through_rates,
    -- summed as decimals, which add up exactly in any order: a group recomputed hourly equals the
    -- same group rebuilt (a rate is at most 86,400: a day's seconds over a length of 1)
    sum(cast(listen_through_rate as decimal(38, 15))) as listen_through_rate_sum
from rated
group by user_id, event_date
{{ laid_out_by('event_date') }}
