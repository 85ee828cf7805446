-- Q3. Distinct listeners with at least one UTC day on which they played or completed 3 or more
-- different episodes (events before as_of + 1 day).
with busy_days as (
    select user_id
    from {{ ref('int_user_daily_listening') }}
    where event_date <= cast({{ as_of_date() }} as date)
        and episodes_listened >= 3
)

select count(distinct user_id) as users_with_3plus_episodes_in_a_day
from busy_days
