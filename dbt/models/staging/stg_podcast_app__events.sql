-- Valid listening events, one row per valid line loaded (duplicates included), typed by the contract.
with source as (
    select * from {{ source('podcast_app', 'events') }}
),

renamed as (
    select
        -- business key
        user_id,
        episode_id,
        event_type,
        event_ts as event_at,
        -- facts
        duration as duration_seconds,
        -- lineage
        _dlt_load_id as load_id,
        _source_file as source_file,
        _line_number as line_number
    from source
)

select * from renamed
