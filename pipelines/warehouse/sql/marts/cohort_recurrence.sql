-- For children by month of their first episode: how many went missing again, and how soon.
-- A child's first and second episodes here are those other than away (children's columns):
-- a local authority's "away from placement" is not a missing or absent episode.
with children as (
    select * from children
),

firsts as (
    select
        child_id,
        first_not_away_reported_at as first_at,
        second_not_away_reported_at as second_at
    from children
    where first_not_away_reported_at is not null
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
