-- What the checks found and kept: batch warnings, DfE SSDA903 findings, and checks across
-- a child's episodes (overlapping episodes; a new episode while one is still open), which
-- int_episodes_sequenced works out on its one pass along each child's history), and
-- episodes still open more than open_episode_limit_days after they were reported as of the
-- run date (open_too_long), which the source should close: at_risk_children no longer counts
-- them as open.
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

-- The same test as at_risk_children's: no return by the end of the run date, reported more
-- than the limit's days before it. The message names the limit, never a raw value.
open_too_long as (
    select
        'open_too_long' as rule,
        'warning' as severity,
        source,
        null::varchar as file,
        null::bigint as row_number,
        episode_ref,
        'episode ' || episode_id || ' has been open more than '
        || getvariable('open_episode_limit_days')
        || ' days with no return recorded: the source should close it or record the return'
            as message
    from episodes
    where reported_at < getvariable('as_of')::timestamp + interval 1 day
        and (
            returned_at is null
            or returned_at >= getvariable('as_of')::timestamp + interval 1 day
        )
        and date_diff('day', reported_at::date, getvariable('as_of')::date)
        > getvariable('open_episode_limit_days')
),

final as (
    select rule, severity, source, file, row_number, episode_ref, message from stored
    union all
    select * from across_episodes
    union all
    select * from open_too_long
)

select * from final
