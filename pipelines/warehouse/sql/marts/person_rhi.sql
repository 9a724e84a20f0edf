-- Return home interviews per child across agencies: for each return from a missing episode
-- (absent and away are not missing; a child found dead has none), was an interview offered,
-- and completed, within 72 hours? One interview may cover several episodes: an interview
-- recorded on any of the person's episodes counts for every return it follows within the
-- window. The episode's own interview counts as in episodes.rhi_offered_within_72h (by 72
-- hours after the return). No source records a declined interview, so none is counted.
with episodes as (
    select * from episodes
),

returns as (
    select
        episode_id,
        person_id,
        returned_at,
        returned_at + to_hours(getvariable('rhi_within_hours')) as window_end,
        rhi_offered_within_72h as own_offered,
        coalesce(
            rhi_completed_at <= returned_at + to_hours(getvariable('rhi_within_hours')), false
        ) as own_completed
    from episodes
    where person_id is not null and category = 'missing' and returned_at is not null
        and coalesce(outcome, '') <> 'found_dead'
),

-- Every interview the person's episodes record, whichever source recorded it.
interviews as (
    select distinct person_id, rhi_offered_at as offered_at, rhi_completed_at as completed_at
    from episodes
    where person_id is not null
        and (rhi_offered_at is not null or rhi_completed_at is not null)
),

-- Each return with the interviews that follow it within the window.
covered as (
    select
        returns.episode_id,
        any_value(returns.person_id) as person_id,
        any_value(returns.own_offered)
        or coalesce(bool_or(interviews.offered_at between returned_at and window_end), false)
            as offered_within,
        any_value(returns.own_completed)
        or coalesce(bool_or(interviews.completed_at between returned_at and window_end), false)
            as completed_within
    from returns
    left join interviews
        on returns.person_id = interviews.person_id
            and (
                interviews.offered_at between returns.returned_at and returns.window_end
                or interviews.completed_at between returns.returned_at and returns.window_end
            )
    group by returns.episode_id
),

per_person as (
    select
        person_id,
        count(*) as returns,
        count(*) filter (where offered_within) as returns_offered_within_72h,
        count(*) filter (where completed_within) as returns_completed_within_72h
    from covered
    group by person_id
),

counted_interviews as (
    select
        person_id,
        count(distinct offered_at) as interviews_offered,
        count(distinct completed_at) as interviews_completed
    from interviews
    group by person_id
),

final as (
    select
        per_person.person_id,
        returns,
        returns_offered_within_72h,
        returns_completed_within_72h,
        coalesce(interviews_offered, 0) as interviews_offered,
        coalesce(interviews_completed, 0) as interviews_completed
    from per_person
    left join counted_interviews using (person_id)
)

select * from final
