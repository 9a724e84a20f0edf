-- Nightly runs as the working store records them.
with stored as (
    select * from work.runs
),

final as (
    select
        run_id, started_at, finished_at, status, as_of, files_new, rows_read, rows_loaded,
        rows_quarantined, rows_out_of_scope, episodes, children, seconds, message
    from stored
)

select * from final
