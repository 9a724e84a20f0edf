-- For children by month of their first episode: how many went missing again, and how soon.
with episodes as (
    select * from episodes
),

-- Away (a local authority's "away from placement") is not a missing or absent episode.
numbered as (
    select
        child_id,
        reported_at,
        row_number() over (partition by child_id order by reported_at, episode_id) as nth
    from episodes
    where category <> 'away'
),

firsts as (
    select
        child_id,
        min(reported_at) filter (where nth = 1) as first_at,
        min(reported_at) filter (where nth = 2) as second_at
    from numbered
    group by child_id
),

final as (
    select
        strftime(first_at, '%Y-%m') as month,
        count(*) as children,
        round(avg(coalesce(second_at <= first_at + interval 30 day, false)::int), 4)
            as share_again_within_30_days,
        round(avg(coalesce(second_at <= first_at + interval 90 day, false)::int), 4)
            as share_again_within_90_days,
        round(avg(coalesce(second_at <= first_at + interval 365 day, false)::int), 4)
            as share_again_within_365_days,
        median(date_diff('second', first_at, second_at) / 86400.0) as median_days_to_next
    from firsts
    group by all
    order by month
)

select * from final
