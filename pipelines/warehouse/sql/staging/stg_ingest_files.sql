-- The ledger of raw files as the working store keeps it.
with ledger as (
    select * from work.ingest_files
),

final as (
    select
        file, sha256, source, status, rows_read, rows_loaded, rows_quarantined,
        rows_out_of_scope, message, ingest_seq, ingested_at
    from ledger
)

select * from final
