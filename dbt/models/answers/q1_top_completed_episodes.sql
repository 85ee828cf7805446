-- Q1. Top 10 most completed episodes in the 7 calendar days ending on as_of (UTC):
-- as_of - 6 days 00:00 <= event_at < as_of + 1 day 00:00, i.e. event days as_of - 6 to as_of.
-- Ties: episode_id ascending.
with window_days as (
    select
        {{ add_days(as_of_date(), -6) }} as first_day,
        cast({{ as_of_date() }} as date) as last_day
),

completions as (
    select daily.episode_id, cast(sum(daily.completions) as bigint) as completions
    from {{ ref('int_episode_daily_completions') }} as daily
    cross join window_days
    where daily.event_date between window_days.first_day and window_days.last_day
    group by daily.episode_id
),

ranked as (
    select
        cast(row_number() over (order by completions desc, episode_id asc) as bigint) as rank,
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
left join {{ ref('dim_episodes') }} as episodes on ranked.episode_id = episodes.episode_id
where ranked.rank <= 10
order by ranked.rank
