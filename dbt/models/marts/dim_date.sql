-- One row per calendar day from the first to the last valid event (UTC).
with bounds as (
    select min(event_date) as first_day, max(event_date) as last_day
    from {{ ref('int_events__deduplicated') }}
),

days as (
    {{ date_spine('(select first_day from bounds)', '(select last_day from bounds)') }}
)

select
    date_day,
    extract(year from date_day) as year,
    extract(month from date_day) as month,
    extract(isodow from date_day) as iso_day_of_week,
    extract(isodow from date_day) in (6, 7) as is_weekend
from days
where date_day is not null
