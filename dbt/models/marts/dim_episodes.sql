-- One row per episode: episodes.csv rows (the latest valid version of a key), plus episodes seen
-- only in events (inferred, podcast 'unknown', no length) so no event is dropped, plus one explicit
-- unknown member. Incremental (delete+insert on episode_id): the batch's new reference versions
-- replace their row (a late episode becomes real, a length change lands); episodes of the batch's
-- events not here yet come in as inferred.
{{
    config(
        materialized='incremental',
        unique_key='episode_id',
        incremental_strategy=incremental_strategy('delete+insert'),
        on_schema_change='fail',
    )
}}

with reference as (
    select episode_id, podcast_id, title, release_date, duration_seconds, true as is_in_reference
    from {{ ref('stg_podcast_app__episodes') }}
    {% if is_incremental() %}
    where {{ in_batch() }}
    {% endif %}
),

played as (
    select distinct episode_id
    from {{ ref('fct_listening_events') }}
    {% if is_incremental() %}
    where {{ in_batch() }}
    {% endif %}
),

inferred as (
    select
        episode_id,
        'unknown' as podcast_id,
        cast(null as {{ dbt.type_string() }}) as title,
        cast(null as date) as release_date,
        cast(null as integer) as duration_seconds,
        false as is_in_reference
    from played
    where episode_id not in (select episode_id from reference)
        {% if is_incremental() %}
        and episode_id not in (select episode_id from {{ this }})
        {% endif %}
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
