-- What the checks found and kept: batch warnings, DfE SSDA903 findings, and checks across
-- a child's episodes (overlapping episodes; a new episode while one is still open).
with stored as (
    select * from work.findings
),

-- Away (whereabouts known) is not compared: only missing, absent and undetermined episodes.
sequenced as (
    select * from episodes where category <> 'away'
),

compared as (
    select
        *,
        -- The latest end among the child's earlier episodes (an open one never ends).
        max(coalesce(returned_at, 'infinity'::timestamp)) over earlier as earlier_end,
        arg_max(episode_id, coalesce(returned_at, 'infinity'::timestamp)) over earlier
            as earlier_episode_id
    from sequenced
    window earlier as (
        partition by child_id order by reported_at, episode_id
        rows between unbounded preceding and 1 preceding
    )
),

across_episodes as (
    select
        if(isinf(earlier_end), 'reported_while_open', 'episodes_overlap') as rule,
        'warning' as severity,
        source,
        null::varchar as file,
        null::bigint as row_number,
        episode_ref,
        if(
            isinf(earlier_end),
            'reported while the child''s earlier episode ' || earlier_episode_id
            || ' was still open',
            'starts before the child''s earlier episode ' || earlier_episode_id || ' ended'
        ) as message
    from compared
    where earlier_end > reported_at
),

final as (
    select rule, severity, source, file, row_number, episode_ref, message from stored
    union all
    select * from across_episodes
)

select * from final
