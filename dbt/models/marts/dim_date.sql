-- One row per calendar day from the first to the last valid event (UTC). Incremental (append):
-- the days the batch's events widen the range by.
{{
    config(
        materialized='incremental',
        incremental_strategy=incremental_strategy('append'),
        on_schema_change='fail',
    )
}}

with event_days as (
    select event_date as day_seen
    from {{ ref('fct_listening_events') }}
    {% if is_incremental() %}
    where {{ in_batch() }}
    union all
    select date_day from {{ this }}
    {% endif %}
),

bounds as (
    select min(day_seen) as first_day, max(day_seen) as last_day
    from event_days
),

days as (
    {{ date_spine('(select first_day from bounds)', '(select last_day from bounds)') }}
)

select
    date_day,
    cast(extract(year from date_day) as bigint) as year,
    cast(extract(month from date_day) as bigint) as month,
    cast({{ iso_day_of_week('date_day') }} as bigint) as iso_day_of_week,
    {{ iso_day_of_week('date_day') }} in (6, 7) as is_weekend
from days
where date_day is not null
    {% if is_incremental() %}
    and date_day not in (select date_day from {{ this }})
    {% endif %}
