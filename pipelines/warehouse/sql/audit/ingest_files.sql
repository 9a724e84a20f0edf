-- The ledger: every raw file seen, and where each of its rows went.
with ledger as (
    select * from stg_ingest_files
),

final as (
    select
        file, sha256, source, status, rows_read, rows_loaded, rows_quarantined,
        rows_out_of_scope, message, ingest_seq, ingested_at
    from ledger
    order by ingest_seq
)

select * from final
