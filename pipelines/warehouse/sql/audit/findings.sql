-- What the checks found and kept: batch warnings, DfE SSDA903 findings, and checks across
-- a child's episodes (overlapping episodes; a new episode while one is still open), which
-- int_episodes_sequenced works out on its one pass along each child's history.
with stored as (
    select * from stg_findings
),

episodes as (
    select * from episodes
),

across_episodes as (
    select
        if(reported_while_open, 'reported_while_open', 'episodes_overlap') as rule,
        'warning' as severity,
        source,
        null::varchar as file,
        null::bigint as row_number,
        episode_ref,
        if(
            reported_while_open,
            'reported while the child''s earlier episode ' || overlaps_episode_id
            || ' was still open',
            'starts before the child''s earlier episode ' || overlaps_episode_id || ' ended'
        ) as message
    from episodes
    where overlaps_episode_id is not null
),

final as (
    select rule, severity, source, file, row_number, episode_ref, message from stored
    union all
    select * from across_episodes
)

select * from final
