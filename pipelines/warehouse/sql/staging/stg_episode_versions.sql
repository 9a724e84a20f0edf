-- Every stored version of every episode, renamed and cast for modelling.
with versions as (
    select * from work.episode_versions
),

final as (
    select
        source,
        file,
        row_number,
        ingest_seq,
        episode_ref,
        source || ':' || episode_ref as episode_id,
        child_id,
        date_of_birth,
        reported_at,
        last_seen_at,
        returned_at,
        recorded_category,
        initial_risk_grade,
        risk_grade,
        sex,
        looked_after = 'Y' as looked_after,
        missing_from,
        cse_flag = 'Y' as cse_flag,
        outcome,
        rhi_offered_at,
        rhi_completed_at,
        extracted_at
    from versions
)

select * from final
