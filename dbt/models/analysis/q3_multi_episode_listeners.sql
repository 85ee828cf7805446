-- Q3. Distinct listeners with at least one UTC day on which they played or completed 3 or more
-- different episodes (events before as_of + 1 day).
with listened as (
    select event_date, user_id
    from {{ ref('fct_listening_events') }}
    where event_type in ('play', 'complete')
        and event_at < cast({{ dbt.dateadd('day', 1, as_of_date()) }} as timestamp)
    group by event_date, user_id
    having count(distinct episode_id) >= 3
)

select count(distinct user_id) as users_with_3plus_episodes_in_a_day
from listened
