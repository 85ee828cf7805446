-- Q2. Average listen-through rate by country: over completes before as_of + 1 day, rate =
-- event duration / episode duration_seconds (not capped). Users missing from users.csv count
-- under 'unknown'; completes of episodes missing from episodes.csv are left out.
with completes as (
    select events.user_id, events.duration_seconds, episodes.duration_seconds as episode_seconds
    from {{ ref('fct_listening_events') }} as events
    inner join {{ ref('dim_episodes') }} as episodes on episodes.episode_id = events.episode_id
    where events.event_type = 'complete'
        and events.event_at < cast({{ dbt.dateadd('day', 1, as_of_date()) }} as timestamp)
        and episodes.is_in_reference
        and episodes.duration_seconds > 0
),

rated as (
    select
        coalesce(users.country, 'unknown') as country,
        cast(completes.duration_seconds as double) / completes.episode_seconds as listen_through_rate
    from completes
    left join {{ ref('dim_users') }} as users on users.user_id = completes.user_id
)

select
    country,
    -- rounded: a reported figure, and stable whatever order the rows are summed in
    round(avg(listen_through_rate), 6) as avg_listen_through_rate,
    count(*) as completions
from rated
group by country
order by country
