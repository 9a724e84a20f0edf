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

-- A semi join on the two columns: `(source, episode_ref) in (...)` compares structs row by
-- row, two to three times slower.
final as (
    select distinct versions.child_id
    from versions
    semi join new_versions using (source, episode_ref)
)

select * from final
