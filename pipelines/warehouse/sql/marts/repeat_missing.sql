-- One row per child per repeat definition met, side by side, with the child's person
-- (the per-source measures; person_repeat has the same child across agencies).
-- Each definition is entered at the child's first qualifying episode: child_episode_number
-- orders a child's episodes by (reported_at, episode_id), and is quicker to compare than
-- the pair (the table at 5.4M episodes in 1.8-1.9 s against 2.6-2.8 s).
with episodes as (
    select * from episodes
),

three_in_90 as (
    select
        child_id,
        -- A child id has one person (or none yet), so any value is the value.
        any_value(person_id) as person_id,
        '3_in_90_days' as definition,
        arg_min(reported_at, child_episode_number) as entered_at,
        arg_min(episode_id, child_episode_number) as qualifying_episode_id
    from episodes
    where completes_repeat_window
    group by child_id
),

missing_three_in_90 as (
    select
        child_id,
        -- A child id has one person (or none yet), so any value is the value.
        any_value(person_id) as person_id,
        'missing_3_in_90_days' as definition,
        arg_min(reported_at, child_episode_number) as entered_at,
        arg_min(episode_id, child_episode_number) as qualifying_episode_id
    from episodes
    where completes_missing_repeat_window
    group by child_id
),

-- DfE: more than one episode (other than away) in a financial year (1 April - 31 March):
-- entered at the earliest episode that is the second or later of its year.
more_than_one_in_year as (
    select
        child_id,
        -- A child id has one person (or none yet), so any value is the value.
        any_value(person_id) as person_id,
        'more_than_1_in_financial_year' as definition,
        arg_min(reported_at, child_episode_number) as entered_at,
        arg_min(episode_id, child_episode_number) as qualifying_episode_id
    from episodes
    where completes_financial_year_repeat
    group by child_id
),

final as (
    select * from three_in_90
    union all
    select * from missing_three_in_90
    union all
    select * from more_than_one_in_year
)

select * from final
