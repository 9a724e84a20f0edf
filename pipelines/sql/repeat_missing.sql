-- One row per child per repeat definition met, side by side.
with episodes as (
    select * from int_episodes_sequenced
),

three_in_90 as (
    select
        child_id,
        '3_in_90_days' as definition,
        arg_min(reported_at, (reported_at, episode_id)) as entered_at,
        arg_min(episode_id, (reported_at, episode_id)) as qualifying_episode_id
    from episodes
    where completes_repeat_window
    group by child_id
),

missing_three_in_90 as (
    select
        child_id,
        'missing_3_in_90_days' as definition,
        arg_min(reported_at, (reported_at, episode_id)) as entered_at,
        arg_min(episode_id, (reported_at, episode_id)) as qualifying_episode_id
    from episodes
    where completes_missing_repeat_window
    group by child_id
),

-- DfE: more than one episode (other than away) in a financial year (1 April - 31 March).
financial_years as (
    select
        child_id,
        reported_at,
        episode_id,
        row_number() over (
            partition by child_id, year(reported_at - interval 3 month)
            order by reported_at, episode_id
        ) as number_in_year
    from episodes
    where category <> 'away'
),

more_than_one_in_year as (
    select
        child_id,
        'more_than_1_in_financial_year' as definition,
        arg_min(reported_at, (reported_at, episode_id)) as entered_at,
        arg_min(episode_id, (reported_at, episode_id)) as qualifying_episode_id
    from financial_years
    where number_in_year = 2
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
