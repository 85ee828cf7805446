-- Q2. Average listen-through rate by country: over completes before as_of + 1 day, rate =
-- event duration / episode duration_seconds (not capped). Users missing from users.csv count
-- under 'unknown'; completes of episodes missing from episodes.csv are left out. The rates come
-- summed per listener and day; the country is the listener's as of now, so a move re-attributes
-- all of their history.
with rated_days as (
    select user_id, rated_completions, listen_through_rates, listen_through_rate_sum
    from {{ ref('int_user_daily_listening') }}
    where event_date <= cast({{ as_of_date() }} as date)
        and rated_completions > 0
),

-- summed per listener before the join: one row per listener meets dim_users, not one per day
by_listener as (
    select
        user_id,
        sum(listen_through_rate_sum) as rate_sum,
        sum(listen_through_rates) as rates,
        sum(rated_completions) as completions
    from rated_days
    group by user_id
),

by_country as (
    select
        coalesce(users.country, 'unknown') as country,
        sum(by_listener.rate_sum) as rate_sum,
        sum(by_listener.rates) as rates,
        sum(by_listener.completions) as completions
    from by_listener
    left join {{ ref('dim_users') }} as users on by_listener.user_id = users.user_id
    group by coalesce(users.country, 'unknown')
)

select
    country,
    -- rounded: a reported figure, and stable whatever order the rows are summed in
    round(cast(rate_sum as double) / nullif(rates, 0), 6) as avg_listen_through_rate,
    cast(completions as bigint) as completions
from by_country
order by country
