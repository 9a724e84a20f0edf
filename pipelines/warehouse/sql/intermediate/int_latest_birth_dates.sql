-- The date of birth on the latest version of each episode reported in the at-risk window of
-- the run date, and whether the child was an adult (adult_age_years, 18) on it: the one
-- adult cut-off of at_risk_children and at_risk_by_source, which look up their children's
-- latest episodes here. The window reaches back the longer of at_risk_lookback_days and
-- open_episode_limit_days, by date: every child either list can hold has its latest episode
-- in it (an open one, a recent one, or a recent repeat), and the few episodes in it keep the
-- lookup from ranking every version ever stored.
-- The latest version is the one the published episode is built from (latest extracted_at,
-- then the file that arrived last, then the last row of that file).
with birth_dates as (
    select * from stg_version_birth_dates
),

run as (
    select
        getvariable('as_of')::date as as_of,
        getvariable('as_of')::timestamp + interval 1 day as run_end,
        getvariable('as_of')::timestamp
        - to_days(
            greatest(
                getvariable('at_risk_lookback_days'),
                getvariable('open_episode_limit_days')
            )
        ) as window_start
),

-- Any version reported in the window marks its episode; every version of it is then ranked.
in_window as (
    select distinct birth_dates.episode_id
    from birth_dates, run
    where birth_dates.reported_at >= run.window_start
        and birth_dates.reported_at < run.run_end
),

latest as (
    select birth_dates.*
    from birth_dates
    where birth_dates.episode_id in (select in_window.episode_id from in_window)
    qualify row_number() over (
            partition by birth_dates.episode_id
            order by
                birth_dates.extracted_at desc nulls last,
                birth_dates.ingest_seq desc,
                birth_dates.row_number desc
        ) = 1
),

-- Whole years on the run date, the birthday counted on the day; unknown without a date.
final as (
    select
        latest.episode_id,
        latest.date_of_birth,
        date_diff('year', latest.date_of_birth, run.as_of)
        - if(
            month(run.as_of) * 100 + day(run.as_of)
            < month(latest.date_of_birth) * 100 + day(latest.date_of_birth), 1, 0
        )
        >= getvariable('adult_age_years') as is_adult
    from latest, run
    where latest.reported_at >= run.window_start
        and latest.reported_at < run.run_end
)

select * from final
