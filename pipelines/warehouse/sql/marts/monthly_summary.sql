-- Episodes and children per month of report and category.
with episodes as (
    select * from episodes
),

final as (
    select
        strftime(reported_at, '%Y-%m') as month,
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
    order by month, category
)

select * from final
