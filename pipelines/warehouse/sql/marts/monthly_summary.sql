-- Episodes and children per month of report and category.
with episodes as (
    select * from episodes
),

-- Grouped by the month's first moment, worded as YYYY-MM once per group, not once per
-- episode: 1.1-1.3 s against 1.9 s at 5.4M episodes.
counted as (
    select
        date_trunc('month', reported_at) as month_start,
        category,
        count(*) as episodes,
        count(distinct child_id) as children,
        count(*) filter (where looked_after) as looked_after_episodes,
        count(*) filter (where cse_flag) as cse_episodes,
        count(*) filter (where not is_open) as closed_episodes,
        count(*) filter (where found_within_24h) as found_within_24h,
        count(*) filter (where category_basis = 'derived') as derived_episodes
    from episodes
    group by all
),

final as (
    select
        strftime(month_start, '%Y-%m') as month,
        * exclude (month_start)
    from counted
    order by month, category
)

select * from final
