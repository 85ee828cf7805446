-- Q1. Top 10 most completed episodes in the 7 calendar days ending on as_of (UTC):
-- as_of - 6 days 00:00 <= event_at < as_of + 1 day 00:00. Ties: episode_id ascending.
with window_bounds as (
    select
        cast({{ dbt.dateadd('day', -6, as_of_date()) }} as timestamp) as window_start,
        cast({{ dbt.dateadd('day', 1, as_of_date()) }} as timestamp) as window_end
),

completions as (
    select events.episode_id, count(*) as completions
    from {{ ref('fct_listening_events') }} as events
    cross join window_bounds
    where events.event_type = 'complete'
        and events.event_at >= window_bounds.window_start
        and events.event_at < window_bounds.window_end
    group by events.episode_id
),

ranked as (
    select
        row_number() over (order by completions desc, episode_id asc) as rank,
        episode_id,
        completions
    from completions
)

select
    ranked.rank,
    ranked.episode_id,
    episodes.title,
    episodes.podcast_id,
    ranked.completions
from ranked
left join {{ ref('dim_episodes') }} as episodes on episodes.episode_id = ranked.episode_id
where ranked.rank <= 10
order by ranked.rank
