-- One row per episode: its latest version (latest extracted_at, then the file that arrived
-- last, then the last row of that file).
with versions as (
    select * from stg_episode_versions
),

ranked as (
    select
        *,
        count(*) over (partition by episode_id) as versions_seen,
        row_number() over (
            partition by episode_id
            order by extracted_at desc nulls last, ingest_seq desc, row_number desc
        ) as recency
    from versions
),

final as (
    select * exclude (recency) from ranked where recency = 1
)

select * from final
