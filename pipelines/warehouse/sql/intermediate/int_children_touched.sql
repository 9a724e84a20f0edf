-- The children an incremental build re-models: every child with any version of an episode
-- that has a version newer than the published database, because the newest version may move
-- the episode from one child to another. Only an incremental build runs this.
with versions as (
    select * from stg_episode_version_keys
),

new_versions as (
    select source, episode_ref
    from versions
    where ingest_seq > getvariable('since_seq')
),

final as (
    select distinct child_id
    from versions
    where (source, episode_ref) in (select (source, episode_ref) from new_versions)
)

select * from final
