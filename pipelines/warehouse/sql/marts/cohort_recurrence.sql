-- For children by month of their first episode: how many went missing again, and how soon.
with episodes as (
    select * from episodes
),

-- Away (a local authority's "away from placement") is not a missing or absent episode.
-- The two earliest report times per child come from a top-2 aggregate, not a sort of all.
earliest as (
    select child_id, min(reported_at, 2) as report_times
    from episodes
    where category <> 'away'
    group by child_id
),

firsts as (
    select child_id, report_times[1] as first_at, report_times[2] as second_at
    from earliest
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
