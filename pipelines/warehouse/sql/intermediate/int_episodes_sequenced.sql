-- Each episode placed in its child's history: repeat windows, overlaps, what was known when
-- reported. Every look back along the child's history shares one ordering, so DuckDB sorts
-- once; the windows sort only the few columns they need and join back, which is far cheaper
-- than sorting whole episodes (measured at five million episodes: docs/scaling.md).
with episodes as (
    select * from int_episodes_classified
),

-- Only the columns the windows need. "3 in 90 days", the financial year and the overlap
-- checks count every episode except the local authority's "away"; the missing-only variant
-- counts missing episodes. A null stands for "not counted": lag() ignores nulls to step over
-- those episodes, and aggregates skip them, so one ordering serves every definition.
timeline as (
    select
        episode_id,
        child_id,
        reported_at,
        category <> 'away' as counted,
        category = 'missing' as counted_missing,
        if(counted, reported_at, null) as counted_at,
        if(counted_missing, reported_at, null) as counted_missing_at,
        -- An open episode never ends.
        if(counted, coalesce(returned_at, 'infinity'::timestamp), null) as counted_end,
        if(counted, episode_id, null) as counted_id,
        coalesce(cse_flag, false) as cse_flag
    from episodes
),

windows as (
    select
        episode_id,
        child_id,
        reported_at,
        coalesce(
            counted and reported_at <= lag(
                counted_at, getvariable('repeat_episodes') - 1 ignore nulls
            ) over so_far + to_days(getvariable('repeat_window_days')),
            false
        ) as completes_repeat_window,
        coalesce(
            counted_missing and reported_at <= lag(
                counted_missing_at, getvariable('repeat_episodes') - 1 ignore nulls
            ) over so_far + to_days(getvariable('repeat_window_days')),
            false
        ) as completes_missing_repeat_window,
        -- Financial years run 1 April to 31 March: shifted back 3 months, the calendar year.
        coalesce(
            counted and year(reported_at - interval 3 month)
            = year(lag(counted_at, 1 ignore nulls) over so_far - interval 3 month),
            false
        ) as completes_financial_year_repeat,
        -- Among the earlier counted episodes, the one that ends last.
        if(counted, max(counted_end) over before, null) as earlier_end,
        if(counted, arg_max(counted_id, counted_end) over before, null) as earlier_episode_id,
        bool_or(cse_flag) over so_far as child_cse_flagged,
        row_number() over so_far as child_episode_number
    from timeline
    window
        so_far as (
            partition by child_id order by reported_at, episode_id
            rows between unbounded preceding and current row
        ),
        before as (
            partition by child_id order by reported_at, episode_id
            rows between unbounded preceding and 1 preceding
        )
),

-- Known when this episode was reported: the child had entered the cohort (this episode
-- included). It looks back over a window's result, so it needs a second pass.
history as (
    select
        * exclude (child_id, reported_at, earlier_end, earlier_episode_id),
        bool_or(completes_repeat_window) over (
            partition by child_id order by reported_at, episode_id
            rows between unbounded preceding and current row
        ) as in_repeat_cohort_at_report,
        if(earlier_end > reported_at, earlier_episode_id, null) as overlaps_episode_id,
        coalesce(earlier_end > reported_at and isinf(earlier_end), false)
            as reported_while_open
    from windows
),

final as (
    select
        e.*,
        h.* exclude (episode_id),
        e.category = 'absent'
        and (
            h.child_cse_flagged or coalesce(e.looked_after, false)
            or h.in_repeat_cohort_at_report
        ) as absent_needs_review,
        case
            when e.category = 'absent' then nullif(
                concat_ws(
                    '; ',
                    if(h.child_cse_flagged, 'cse_flag', null),
                    if(coalesce(e.looked_after, false), 'looked_after', null),
                    if(h.in_repeat_cohort_at_report, 'repeat_3_in_90_days', null)
                ),
                ''
            )
        end as review_reasons
    from episodes as e
    inner join history as h using (episode_id)
)

select * from final
