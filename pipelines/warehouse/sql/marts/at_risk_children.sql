-- The children most at risk as of the run date across agencies, in the order to act on them:
-- one row per person (a child id not yet linked is a person of its own), each reason naming
-- the source that gave it. at_risk_by_source is the same list per source's child id.
-- Only children: anyone 18 or over on the run date (by the full date of birth on the person's
-- latest episode, read inside the build and never published) is left out; a child whose date
-- of birth is not recorded stays.
-- An episode counts as open while no return is recorded by the end of the run date and it was
-- reported at most open_episode_limit_days (90) days before the run date; one open longer is
-- an open_too_long finding for the source to close, and no reason to list the child.
-- Priority tiers (README.md, schemas/tables/at_risk_children.yml): 1 an open episode graded
-- high (any source); 2 any other open episode; 3 a CSE-flagged episode in the last 90 days;
-- 4 a high-risk episode in the last 90 days; 5 3 episodes within 90 days across sources
-- (person_repeat) completed in the last 90 days; 6 an absent decision needing review in the
-- last 90 days; 7 a council missing-from-care episode in the last 90 days with no police
-- report near it (agency_reconciliation); 8 a spell off a school roll open on the run date
-- (cme_episodes), for a child with a missing or absent episode on record (the list is of
-- children who go missing; the register of children missing education is the council's own
-- list of the rest). Within a tier: more kinds of reason, then more episodes in the last 90 days
-- (every source), then the latest report first, then the person (or child) id.
-- Not materialized: `reported` below is read twice (the few recent rows, and flagged persons'
-- whole histories), and a copy of millions of rows to share cost more than two scans.
with episodes as not materialized (
    select * from episodes
),

person_repeat as (
    select * from person_repeat
),

declared_sources as (
    select * from source_declarations
),

latest_birth_dates as (
    select * from int_latest_birth_dates
),

at_risk_window as (
    select * from int_at_risk_window
),

reconciliation as (
    select * from agency_reconciliation
),

cme as (
    select * from cme_episodes
),

-- Episodes reported by the run date (read twice, as `episodes` above).
reported as not materialized (
    select
        *,
        coalesce(person_id, child_id) as person_key
    from episodes
    where reported_at < getvariable('as_of')::timestamp + interval 1 day
),

-- Those a reason can look at (reported since the window's start, or still counted open), with
-- what the tiers look at and the words that say who recorded what (an SSDA903 Missing source
-- is a council's, any other a police force's): a few thousand of millions.
recent as (
    select
        reported.*,
        coalesce(risk_grade, initial_risk_grade) = 'high' as graded_high,
        (
            returned_at is null
            or returned_at >= getvariable('as_of')::timestamp + interval 1 day
        )
        and date_diff('day', reported_at::date, getvariable('as_of')::date)
        <= getvariable('open_episode_limit_days') as open_then,
        if(
            open_then,
            'open ' || if(declared_sources.layout = 'ssda903_missing', 'council', 'police')
            || ' ' || category || ' episode (' || source || ')',
            null
        ) as open_words
    from reported
    cross join at_risk_window
    left join declared_sources using (source)
    where reported.reported_at >= at_risk_window.looks_back_to
),

-- Council missing-from-care episodes in the window with no police report near them.
unreported as (
    select
        recent.person_key,
        string_agg(distinct recent.source, ', ' order by recent.source) as unreported_sources
    from reconciliation
    inner join recent on reconciliation.council_episode_id = recent.episode_id
    cross join at_risk_window
    where
        reconciliation.kind = 'council_missing_no_police_report'
        and recent.reported_at >= at_risk_window.starts
    group by recent.person_key
),

-- Spells off a school roll open on the run date (a later resolution is not yet known then).
off_roll as (
    select
        coalesce(person_id, child_id) as person_key,
        max(date_diff('day', off_roll_on, getvariable('as_of')::date)) as days_off_roll,
        string_agg(distinct source, ', ' order by source) as off_roll_sources
    from cme
    where
        off_roll_on <= getvariable('as_of')::date
        and (resolved_on is null or resolved_on > getvariable('as_of')::date)
    group by person_key
),

-- Only persons with something to act on are summarised: far fewer than all persons. A linked
-- person's repeat is across sources (person_repeat); a child id not yet linked has one
-- source, where the per-source window is the same test. One off a school roll is listed only
-- with an episode on record (history, below, has a row only for such a person).
flagged as (
    select distinct person_key
    from recent, at_risk_window
    where open_then
        or reported_at >= starts
        and (
            cse_flag or graded_high or absent_needs_review
            or person_id is null and completes_repeat_window
        )
    union
    select person_id
    from person_repeat, at_risk_window
    where last_repeat_at >= starts
    union
    select person_key from unreported
    union
    select person_key from off_roll
),

-- What the list says of a flagged person's whole history.
history as (
    select
        person_key,
        any_value(person_id) as person_id,
        string_agg(distinct source, ', ' order by source) as all_sources,
        count(distinct source) as source_count,
        max(reported_at) as last_reported_at,
        arg_max(episode_id, (reported_at, episode_id)) as last_episode_id,
        arg_max(child_id, (reported_at, episode_id)) as child_id
    from reported semi join flagged using (person_key)
    group by person_key
),

-- Its reasons, from the episodes a reason looks at.
reasons as (
    select
        person_key,
        bool_or(open_then) as has_open_episode,
        bool_or(open_then and graded_high) as has_open_high_risk,
        string_agg(distinct open_words || ', high risk', '; ' order by open_words || ', high risk')
        filter (where open_then and graded_high) as open_high_words,
        string_agg(distinct open_words, '; ' order by open_words)
        filter (where open_then and not coalesce(graded_high, false)) as open_other_words,
        string_agg(distinct source, ', ' order by source)
        filter (where reported_at >= starts and cse_flag) as cse_sources,
        string_agg(distinct source, ', ' order by source)
        filter (where reported_at >= starts and graded_high) as high_risk_sources,
        string_agg(distinct source, ', ' order by source)
        filter (where reported_at >= starts and completes_repeat_window)
            as child_repeat_sources,
        string_agg(distinct source, ', ' order by source)
        filter (where reported_at >= starts and absent_needs_review) as absent_sources,
        count(*) filter (where reported_at >= starts) as episodes_last_90_days
    from recent semi join flagged using (person_key), at_risk_window
    group by person_key
),

per_person as (
    select
        history.*,
        coalesce(reasons.has_open_episode, false) as has_open_episode,
        coalesce(reasons.has_open_high_risk, false) as has_open_high_risk,
        reasons.open_high_words,
        reasons.open_other_words,
        reasons.cse_sources,
        reasons.high_risk_sources,
        reasons.child_repeat_sources,
        reasons.absent_sources,
        coalesce(reasons.episodes_last_90_days, 0) as episodes_last_90_days
    from history
    left join reasons using (person_key)
),

-- The repeat across sources for a linked person; the child's own for one not yet linked.
with_repeat as (
    select
        per_person.*,
        if(
            per_person.person_id is null,
            child_repeat_sources,
            if(person_repeat.last_repeat_at >= starts, person_repeat.last_repeat_sources, null)
        ) as repeat_sources,
        if(
            per_person.person_id is null, 1, person_repeat.last_repeat_source_count
        ) as repeat_source_count,
        unreported.unreported_sources,
        off_roll.days_off_roll,
        off_roll.off_roll_sources
    from per_person
    cross join at_risk_window
    left join person_repeat on per_person.person_id = person_repeat.person_id
    left join unreported on per_person.person_key = unreported.person_key
    left join off_roll on per_person.person_key = off_roll.person_key
),

-- Only children: an adult on the run date is left out; one whose date of birth is not
-- recorded stays.
children_only as (
    select with_repeat.*
    from with_repeat
    left join latest_birth_dates on with_repeat.last_episode_id = latest_birth_dates.episode_id
    where latest_birth_dates.is_adult is not true
),

listed as (
    select
        *,
        concat_ws(
            '; ',
            open_high_words,
            open_other_words,
            'CSE flag in ' || lookback || ' (' || cse_sources || ')',
            'high risk in ' || lookback || ' (' || high_risk_sources || ')',
            repeat_trigger
            || if(repeat_source_count > 1, ' across ' || repeat_source_count || ' sources', '')
            || ' (' || repeat_sources || ')',
            'absent decision needs review (' || absent_sources || ')',
            'missing from care (council) with no police report in ' || lookback
            || ' (' || unreported_sources || ')',
            'off school roll ' || days_off_roll || ' days (' || off_roll_sources || ')'
        ) as reasons,
        has_open_episode::int + (cse_sources is not null)::int
        + (high_risk_sources is not null)::int + (repeat_sources is not null)::int
        + (absent_sources is not null)::int + (unreported_sources is not null)::int
        + (off_roll_sources is not null)::int as reason_count,
        case
            when has_open_high_risk then 1
            when has_open_episode then 2
            when cse_sources is not null then 3
            when high_risk_sources is not null then 4
            when repeat_sources is not null then 5
            when absent_sources is not null then 6
            when unreported_sources is not null then 7
            when off_roll_sources is not null then 8
        end as priority_tier
    from children_only, at_risk_window
),

final as (
    select
        row_number() over (
            order by
                priority_tier, reason_count desc, episodes_last_90_days desc,
                last_reported_at desc, person_key
        ) as priority,
        person_id,
        child_id,
        priority_tier,
        reasons,
        all_sources as sources,
        source_count,
        episodes_last_90_days,
        last_reported_at,
        last_episode_id,
        has_open_episode,
        has_open_high_risk
    from listed
    where priority_tier is not null
)

select * from final
