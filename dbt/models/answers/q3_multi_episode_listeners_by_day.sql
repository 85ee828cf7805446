-- Q3 by day: per UTC day, listeners who played or completed 3 or more different episodes that day
-- (events before as_of + 1 day).
with busy_days as (
    select event_date, user_id
    from {{ ref('int_user_daily_listening') }}
    where event_date <= cast({{ as_of_date() }} as date)
        and episodes_listened >= 3
)

select event_date as day, count(*) as users
from busy_days
group by event_date
order by event_date
