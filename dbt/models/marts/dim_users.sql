-- One row per listener: users.csv rows, plus users seen only in events (inferred, country
-- 'unknown') so no event is dropped, plus one explicit unknown member. An inferred user takes its
-- real attributes on the first build after its reference row arrives.
with reference as (
    select user_id, signup_date, country, true as is_in_reference
    from {{ ref('stg_silver__users') }}
),

inferred as (
    select distinct user_id, cast(null as date) as signup_date, 'unknown' as country, false as is_in_reference
    from {{ ref('int_events__deduplicated') }}
    where user_id not in (select user_id from reference)
),

unknown_member as (
    select '(unknown)' as user_id, cast(null as date) as signup_date, 'unknown' as country, false as is_in_reference
)

select * from reference
union all
select * from inferred
union all
select * from unknown_member
