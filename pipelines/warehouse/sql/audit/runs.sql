-- One row per nightly run.
with stored as (
    select * from stg_runs
),

final as (
    select
        run_id, started_at, finished_at, status, as_of, files_new, rows_read, rows_loaded,
        rows_quarantined, rows_out_of_scope, episodes, children, seconds, message
    from stored
    order by started_at
)

select * from final
