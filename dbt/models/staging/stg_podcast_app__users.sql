-- Users: the latest valid version of each user_id wins (latest load, then the last line).
with source as (
    select
        user_id,
        signup_date,
        country,
        _dlt_load_id as load_id,
        _source_file as source_file,
        _line_number as line_number
    from {{ source('podcast_app', 'users') }}
),

latest as (
    {{ latest_per_key('source', ['user_id']) }}
)

select user_id, signup_date, country, load_id from latest
