-- One row per child per repeat definition met, side by side.
with episodes as (
    select * from episodes
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
-- The two earliest of each child's year come from a top-2 aggregate, not a sort of all.
financial_years as (
    select
        child_id,
        min(struct_pack(at := reported_at, id := episode_id), 2)[2] as second
    from episodes
    where category <> 'away'
    group by child_id, year(reported_at - interval 3 month)
    having count(*) >= 2
),

more_than_one_in_year as (
    select
        child_id,
        'more_than_1_in_financial_year' as definition,
        min(second).at as entered_at,
        min(second).id as qualifying_episode_id
    from financial_years
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
