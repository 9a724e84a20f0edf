-- Where police and council records of one linked child disagree, one row per gap.
-- Three kinds, kept apart (police missing and absent, council missing and away are never
-- merged):
--   council_missing_no_police_report: a council (SSDA903) missing episode of a looked-after
--     child with no police report of the same person (any police category) starting within
--     reconciliation_tolerance_hours of it, before or after;
--   police_missing_no_council_episode: a police missing episode of a child the police
--     recorded as looked after, whom the council knows, with no council missing episode of
--     the same person starting within the tolerance;
--   looked_after_unknown_to_council: a person the police flagged looked after in a month,
--     with no council record (of any council source) linked to them.
-- Away episodes never count: they neither open a gap nor close one. Only linked episodes
-- (person_id known) are compared: before the linkage step has run no one can be matched.
with episodes as (
    select * from episodes
),

known_to_council as (
    select * from int_persons_known_to_council
),

declared_sources as (
    select * from source_declarations
),

-- Police sources have the standard or a mapped layout; every other layout is a council's
-- (its SSDA903 tables, case-management extract, children missing education register).
agencies as (
    select source, if(layout in ('standard', 'mapped'), 'police', 'council') as agency
    from declared_sources
),

linked as (
    select episodes.*, agencies.agency, layout
    from episodes
    inner join agencies using (source)
    inner join declared_sources using (source)
    where person_id is not null
),

council_missing as (
    select * from linked
    where layout = 'ssda903_missing' and category = 'missing' and looked_after
),

police_reports as (
    select * from linked
    where agency = 'police'
),

police_missing_looked_after as (
    select * from police_reports
    where category = 'missing' and looked_after
),

tolerance as (
    select getvariable('reconciliation_tolerance_hours') as hours
),

-- Each council missing episode with the police report of the same person nearest in start.
council_nearest as (
    select
        c.episode_id as council_episode_id,
        c.person_id,
        c.reported_at,
        p.episode_id as police_episode_id,
        date_diff('second', c.reported_at, p.reported_at) / 3600.0 as hours_apart
    from council_missing as c
    left join police_reports as p on c.person_id = p.person_id
    qualify row_number() over (
            partition by c.episode_id
            order by abs(hours_apart) nulls last, p.reported_at, p.episode_id
        ) = 1
),

-- Each police missing episode (looked after) with the nearest council missing episode.
police_nearest as (
    select
        p.episode_id as police_episode_id,
        p.person_id,
        p.reported_at,
        c.episode_id as council_episode_id,
        date_diff('second', p.reported_at, c.reported_at) / 3600.0 as hours_apart
    from police_missing_looked_after as p
    semi join known_to_council using (person_id)
    left join council_missing as c on p.person_id = c.person_id
    qualify row_number() over (
            partition by p.episode_id
            order by abs(hours_apart) nulls last, c.reported_at, c.episode_id
        ) = 1
),

-- Hours apart in words: "25.0 hours after it", "30.5 hours before it".
council_gaps as (
    select
        'council_missing_no_police_report' as kind,
        council_nearest.*,
        'Council recorded this looked-after child missing from care from '
        || strftime(reported_at, '%Y-%m-%d %H:%M')
        || '; no police report of the child started within '
        || hours || ' hours of it'
        || coalesce(
            ' (nearest police report ' || police_episode_id || ', '
            || printf('%.1f', abs(hours_apart)) || ' hours '
            || if(hours_apart < 0, 'before', 'after') || ')',
            ' (the police have no report of the child)'
        ) as explanation
    from council_nearest, tolerance
    where police_episode_id is null or abs(hours_apart) > hours
),

police_gaps as (
    select
        'police_missing_no_council_episode' as kind,
        police_nearest.*,
        'Police recorded this child, flagged looked after, missing from '
        || strftime(reported_at, '%Y-%m-%d %H:%M') || '; the council knows the child but '
        || 'recorded no missing episode starting within ' || hours || ' hours of it'
        || coalesce(
            ' (nearest council missing episode ' || council_episode_id || ', '
            || printf('%.1f', abs(hours_apart)) || ' hours '
            || if(hours_apart < 0, 'before', 'after') || ')',
            ' (the council has no missing episode of the child)'
        ) as explanation
    from police_nearest, tolerance
    where council_episode_id is null or abs(hours_apart) > hours
),

-- A person flagged looked after by the police, per month, whom no council record names.
unknown_per_month as (
    select
        person_id,
        strftime(reported_at, '%Y-%m') as month,
        arg_min(episode_id, (reported_at, episode_id)) as police_episode_id,
        min(reported_at) as reported_at,
        count(*) as flagged_episodes
    from police_reports
    where looked_after and person_id not in (select person_id from known_to_council)
    group by person_id, month
),

unknown_gaps as (
    select
        'looked_after_unknown_to_council' as kind,
        *,
        'Police flagged this child as looked after in ' || flagged_episodes
        || if(flagged_episodes = 1, ' report', ' reports') || ' this month (first '
        || police_episode_id || ', ' || strftime(reported_at, '%Y-%m-%d %H:%M')
        || '); no council record is linked to the child' as explanation
    from unknown_per_month
),

gaps as (
    select
        kind,
        strftime(reported_at, '%Y-%m') as month,
        person_id,
        council_episode_id,
        police_episode_id,
        reported_at as started_at,
        abs(hours_apart) as hours_apart,
        explanation,
        kind || ':' || council_episode_id as gap_id
    from council_gaps
    union all
    select
        kind,
        strftime(reported_at, '%Y-%m'),
        person_id,
        council_episode_id,
        police_episode_id,
        reported_at,
        abs(hours_apart),
        explanation,
        kind || ':' || police_episode_id
    from police_gaps
    union all
    select
        kind,
        month,
        person_id,
        null,
        police_episode_id,
        reported_at,
        null,
        explanation,
        kind || ':' || person_id || ':' || month
    from unknown_gaps
),

final as (
    select
        gap_id,
        kind,
        month,
        person_id,
        council_episode_id,
        police_episode_id,
        started_at,
        hours_apart,
        explanation
    from gaps
    order by month, kind, started_at, gap_id
)

select * from final
