-- What the checks found and kept: batch warnings, DfE SSDA903 findings, and checks across
-- a child's episodes (overlapping episodes; a new episode while one is still open).
with stored as (
    select * from work.findings
),

sequenced as (
    select * from int_episodes_sequenced
),

across_episodes as (
    select
        case when previous_returned_at is null then 'reported_while_open'
            else 'episodes_overlap' end as rule,
        'warning' as severity,
        source,
        null::varchar as file,
        null::bigint as row_number,
        episode_ref,
        case when previous_returned_at is null
            then 'reported while the child''s previous episode ' || previous_episode_id
                || ' was still open'
            else 'starts before the child''s previous episode ' || previous_episode_id
                || ' ended'
        end as message
    from sequenced
    where previous_episode_id is not null
        and category <> 'away'
        and (previous_returned_at is null or previous_returned_at > reported_at)
),

final as (
    select rule, severity, source, file, row_number, episode_ref, message from stored
    union all
    select * from across_episodes
)

select * from final
