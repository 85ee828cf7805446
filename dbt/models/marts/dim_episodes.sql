-- One row per episode: episodes.csv rows, plus episodes seen only in events (inferred, podcast
-- 'unknown', no length) so no event is dropped, plus one explicit unknown member.
with reference as (
    select episode_id, podcast_id, title, release_date, duration_seconds, true as is_in_reference
    from {{ ref('stg_silver__episodes') }}
),

inferred as (
    select distinct
        episode_id,
        'unknown' as podcast_id,
        cast(null as {{ dbt.type_string() }}) as title,
        cast(null as date) as release_date,
        cast(null as integer) as duration_seconds,
        false as is_in_reference
    from {{ ref('int_events__deduplicated') }}
    where episode_id not in (select episode_id from reference)
),

unknown_member as (
    select
        '(unknown)' as episode_id,
        'unknown' as podcast_id,
        cast(null as {{ dbt.type_string() }}) as title,
        cast(null as date) as release_date,
        cast(null as integer) as duration_seconds,
        false as is_in_reference
)

select * from reference
union all
select * from inferred
union all
select * from unknown_member
