-- Q3 by day: per UTC day, listeners who played or completed 3 or more different episodes that day
-- (events before as_of + 1 day).
with listened as (
    select event_date, user_id, count(distinct episode_id) as episodes
    from {{ ref('fct_listening_events') }}
    where event_type in ('play', 'complete')
        and event_at < cast({{ dbt.dateadd('day', 1, as_of_date()) }} as timestamp)
    group by event_date, user_id
)

select event_date as day, count(*) as users
from listened
where episodes >= 3
group by event_date
order by event_date
