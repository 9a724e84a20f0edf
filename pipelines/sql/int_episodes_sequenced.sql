-- Each episode placed in its child's history: repeat windows, what was known when reported.
with episodes as (
    select * from int_episodes_classified
),

-- "3 in 90 days" counts every episode except the local authority's "away"; the missing-only
-- variant counts missing episodes. Partitioning by the condition as well as the child makes
-- lag() step over the other episodes, in one pass and with no self-join.
windows as (
    select
        *,
        coalesce(
            category <> 'away'
            and reported_at <= lag(reported_at, getvariable('repeat_episodes') - 1) over (
                partition by child_id, category <> 'away' order by reported_at, episode_id
            ) + to_days(getvariable('repeat_window_days')),
            false
        ) as completes_repeat_window,
        coalesce(
            category = 'missing'
            and reported_at <= lag(reported_at, getvariable('repeat_episodes') - 1) over (
                partition by child_id, category = 'missing' order by reported_at, episode_id
            ) + to_days(getvariable('repeat_window_days')),
            false
        ) as completes_missing_repeat_window
    from episodes
),

history as (
    select
        *,
        -- Known when this episode was reported: the child had entered the cohort (this
        -- episode included) or carried a CSE flag on any episode so far.
        bool_or(completes_repeat_window) over child_so_far as in_repeat_cohort_at_report,
        bool_or(coalesce(cse_flag, false)) over child_so_far as child_cse_flagged,
        lag(returned_at) over child_order as previous_returned_at,
        lag(episode_id) over child_order as previous_episode_id,
        lag(reported_at) over child_order as previous_reported_at,
        row_number() over child_order as child_episode_number
    from windows
    window
        child_order as (partition by child_id order by reported_at, episode_id),
        child_so_far as (
            partition by child_id order by reported_at, episode_id
            rows between unbounded preceding and current row
        )
),

final as (
    select
        *,
        category = 'absent'
        and (child_cse_flagged or coalesce(looked_after, false) or in_repeat_cohort_at_report)
            as absent_needs_review,
        case when category = 'absent' then nullif(concat_ws('; ',
            if(child_cse_flagged, 'cse_flag', null),
            if(coalesce(looked_after, false), 'looked_after', null),
            if(in_repeat_cohort_at_report, 'repeat_3_in_90_days', null)
        ), '') end as review_reasons
    from history
)

select * from final
