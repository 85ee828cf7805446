-- One row per listener: users.csv rows (the latest valid version of a key), plus users seen only
-- in events (inferred, country 'unknown') so no event is dropped, plus one explicit unknown member.
-- Incremental (delete+insert on user_id): the batch's new reference versions replace their row,
-- so an inferred user takes its real attributes when its reference row arrives; listeners of the
-- batch not here yet come in as inferred.
{{
    config(
        materialized='incremental',
        unique_key='user_id',
        incremental_strategy=incremental_strategy('delete+insert'),
        on_schema_change='fail',
    )
}}

with reference as (
    select user_id, signup_date, country, true as is_in_reference
    from {{ ref('stg_podcast_app__users') }}
    {% if is_incremental() %}
    where {{ in_batch() }}
    {% endif %}
),

listeners as (
    select distinct user_id
    from {{ ref('fct_listening_events') }}
    {% if is_incremental() %}
    where {{ in_batch() }}
    {% endif %}
),

inferred as (
    select user_id, cast(null as date) as signup_date, 'unknown' as country, false as is_in_reference
    from listeners
    where user_id not in (select user_id from reference)
        {% if is_incremental() %}
        and user_id not in (select user_id from {{ this }})
        {% endif %}
),

unknown_member as (
    select
        '(unknown)' as user_id,
        cast(null as date) as signup_date,
        'unknown' as country,
        false as is_in_reference
)

select * from reference
union all
select * from inferred
union all
select * from unknown_member
