-- The date of birth on every stored episode version, never narrowed by an incremental build:
-- the at-risk lists read the child's age on the run date from it (int_latest_birth_dates), to
-- the day, without the published tables ever holding more than the month of birth.
with versions as (
    select * from work.episode_versions
),

final as (
    select
        source || ':' || episode_ref as episode_id,
        date_of_birth,
        reported_at,
        extracted_at,
        ingest_seq,
        row_number
    from versions
)

select * from final
