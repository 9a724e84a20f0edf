-- The keys of every stored episode version, never narrowed by an incremental build: which
-- children a build must re-model, and how many versions it was built from.
with versions as (
    select * from work.episode_versions
),

final as (
    select source, episode_ref, child_id, ingest_seq
    from versions
)

select * from final
