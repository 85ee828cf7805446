-- Episodes: the latest valid version of each episode_id wins (latest load, then the last line).
with source as (
    select
        episode_id,
        podcast_id,
        title,
        release_date,
        duration_seconds,
        _dlt_load_id as load_id,
        _source_file as source_file,
        _line_number as line_number
    from {{ source('podcast_app', 'episodes') }}
),

latest as (
    {{ latest_per_key('source', ['episode_id']) }}
)

select episode_id, podcast_id, title, release_date, duration_seconds, load_id from latest
