-- One row per child (pseudonymous id), with counts as of the run date.
with episodes as (
    select * from episodes
),

as_of as (
    select
        getvariable('as_of')::timestamp + interval 1 day as run_end,
        run_end - to_months(getvariable('last_months')) as last_months_start
),

counted as (
    select
        child_id,
        -- One person per child id (stg_person_ids), as on each of its episodes.
        any_value(person_id) as person_id,
        min(reported_at) as first_reported_at,
        max(reported_at) as last_reported_at,
        count(*) as episodes,
        count(*) filter (where category = 'missing') as missing_episodes,
        count(*) filter (where category = 'absent') as absent_episodes,
        count(*) filter (where category = 'away') as away_episodes,
        count(*) filter (where category = 'undetermined') as undetermined_episodes,
        bool_or(coalesce(looked_after, false)) as looked_after,
        bool_or(coalesce(cse_flag, false)) as ever_cse_flagged,
        count(*) filter (where returned_at is null) as open_episodes,
        -- Ofsted's measure: episodes in the 12 months to the run date, missing and absent apart.
        count(*) filter (
            where reported_at >= last_months_start and reported_at < run_end
        ) as episodes_last_12_months,
        count(*) filter (
            where category = 'missing'
            and reported_at >= last_months_start and reported_at < run_end
        ) as missing_last_12_months,
        count(*) filter (
            where category = 'absent'
            and reported_at >= last_months_start and reported_at < run_end
        ) as absent_last_12_months,
        max(birth_month) as birth_month,
        -- A child id is keyed on source and person, so one child has one source.
        any_value(source) as sources,
        -- Away (a local authority's "away from placement") is not a missing or absent
        -- episode: the two earliest other reports, cohort_recurrence's cohorts, from a top-2
        -- aggregate (in this pass over the episodes, not one of its own).
        min(reported_at, 2) filter (where category <> 'away') as not_away_report_times
    from episodes, as_of
    group by child_id
),

final as (
    select
        * exclude (not_away_report_times),
        not_away_report_times[1] as first_not_away_reported_at,
        not_away_report_times[2] as second_not_away_reported_at
    from counted
)

select * from final
