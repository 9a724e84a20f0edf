-- The children most at risk as of the run date, in the order to act on them, per source's
-- child id: the list for a force that uses the tool alone (at_risk_children is the same list
-- on the person across agencies).
-- Only children: anyone 18 or over on the run date (by the full date of birth on their latest
-- episode, read inside the build and never published) is left out; a child whose date of
-- birth is not recorded stays.
-- An episode counts as open while no return is recorded by the end of the run date and it was
-- reported at most open_episode_limit_days (90) days before the run date. One open longer is
-- taken to be left open by the source: it is a finding (open_too_long, in findings) for the
-- source to close, and no reason to list the child.
-- Priority tiers (README.md): 1 open episode graded high; 2 any other open episode;
-- 3 CSE-flagged episode in the last 90 days; 4 high-risk episode in the last 90 days;
-- 5 completed 3 episodes within 90 days in the last 90 days; 6 an absent decision
-- needing review in the last 90 days. Within a tier: more reasons, then more recent
-- episodes, then the latest report first.
with episodes as (
    select * from episodes
),

latest_birth_dates as (
    select * from int_latest_birth_dates
),

at_risk_window as (
    select * from int_at_risk_window
),

-- Episodes reported by the run date, with what the tiers look at.
reported as (
    select
        episodes.*,
        -- The highest grade known: the initial one where no highest grade is recorded.
        coalesce(risk_grade, initial_risk_grade) = 'high' as graded_high,
        -- Open as of the run date: a return recorded after it had not happened yet; and
        -- reported within the limit (findings.sql reports longer ones as open_too_long).
        (
            returned_at is null
            or returned_at >= getvariable('as_of')::timestamp + interval 1 day
        )
        and date_diff('day', reported_at::date, getvariable('as_of')::date)
        <= getvariable('open_episode_limit_days') as open_then
    from episodes, at_risk_window
    -- A listed child has a reason reported since looks_back_to, so its latest episode is
    -- one of these too: every figure below is the same as over all its episodes.
    where
        reported_at >= looks_back_to
        and reported_at < getvariable('as_of')::timestamp + interval 1 day
),

-- Only children with something to act on are summarised: far fewer than all children.
flagged as (
    select distinct child_id
    from reported, at_risk_window
    where open_then
        or reported_at >= starts
        and (cse_flag or graded_high or completes_repeat_window or absent_needs_review)
),

per_child as (
    select
        child_id,
        bool_or(open_then) as has_open_episode,
        coalesce(bool_or(open_then and graded_high), false)
            as has_open_high_risk,
        coalesce(bool_or(reported_at >= starts and cse_flag), false) as recent_cse,
        coalesce(bool_or(reported_at >= starts and graded_high), false)
            as recent_high_risk,
        coalesce(bool_or(reported_at >= starts and completes_repeat_window), false)
            as recent_repeat,
        coalesce(bool_or(reported_at >= starts and absent_needs_review), false)
            as recent_absent_review,
        count(*) filter (where reported_at >= starts) as episodes_last_90_days,
        max(reported_at) as last_reported_at,
        -- child_episode_number orders the child's episodes by (reported_at, episode_id).
        arg_max(episode_id, child_episode_number) as last_episode_id
    from reported semi join flagged using (child_id), at_risk_window
    group by child_id
),

-- Only children: an adult on the run date is left out; one whose date of birth is not
-- recorded stays.
children_only as (
    select per_child.*
    from per_child
    left join latest_birth_dates on per_child.last_episode_id = latest_birth_dates.episode_id
    where latest_birth_dates.is_adult is not true
),

listed as (
    select
        *,
        concat_ws(
            '; ',
            if(has_open_high_risk, 'open high-risk episode', null),
            if(has_open_episode and not has_open_high_risk, 'open episode', null),
            if(recent_cse, 'CSE flag in ' || lookback, null),
            if(recent_high_risk, 'high risk in ' || lookback, null),
            if(recent_repeat, repeat_trigger, null),
            if(recent_absent_review, 'absent decision needs review', null)
        ) as reasons,
        has_open_episode::int + recent_cse::int + recent_high_risk::int + recent_repeat::int
        + recent_absent_review::int as reason_count,
        case
            when has_open_high_risk then 1
            when has_open_episode then 2
            when recent_cse then 3
            when recent_high_risk then 4
            when recent_repeat then 5
            when recent_absent_review then 6
        end as priority_tier
    from children_only, at_risk_window
    where has_open_episode or recent_cse or recent_high_risk or recent_repeat
        or recent_absent_review
),

final as (
    select
        row_number() over (
            order by
                priority_tier, reason_count desc, episodes_last_90_days desc,
                last_reported_at desc, child_id
        ) as priority,
        child_id,
        priority_tier,
        reasons,
        episodes_last_90_days,
        last_reported_at,
        last_episode_id,
        has_open_episode,
        has_open_high_risk
    from listed
)

select * from final
