-- Findings the ingest kept: batch warnings and DfE SSDA903 rule findings.
with stored as (
    select * from work.findings
),

final as (
    select rule, severity, source, file, row_number, episode_ref, message
    from stored
)

select * from final
