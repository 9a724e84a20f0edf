-- One row: how this database was built, so that the next night can tell whether the working
-- store has only grown since (an incremental build is exact) or changed underneath it.
with ledger as (
    select * from stg_ingest_files
),

store as (
    select * from stg_store_identity
),

versions as (
    select * from stg_episode_version_keys
),

children as (
    select * from children
),

final as (
    select
        getvariable('build_mode') as build_mode,
        getvariable('build_reason') as build_reason,
        getvariable('as_of') as as_of,
        getvariable('models_fingerprint') as models_fingerprint,
        (select any_value(store_id) from store) as store_id,
        (select coalesce(max(ingest_seq), 0) from ledger) as last_ingest_seq,
        (select count(*) from versions) as versions_built,
        (select count(*) from ledger) as files_built,
        coalesce(getvariable('children_rebuilt'), (select count(*) from children))
            as children_rebuilt,
        -- Carried over by incremental builds: the day the last full build ran.
        getvariable('last_full_build_on') as last_full_build_on
)

select * from final
