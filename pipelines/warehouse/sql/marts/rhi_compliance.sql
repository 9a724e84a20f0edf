-- Return home interviews after missing episodes, per month of return: offered within 72
-- hours, later, or not at all.
with episodes as (
    select * from episodes
),

returns as (
    select * from episodes
    -- Statutory guidance: every child returning from a missing episode is offered an
    -- interview (absent and away episodes are not missing). A child found dead has none.
    where category = 'missing' and returned_at is not null
        and coalesce(outcome, '') <> 'found_dead'
),

final as (
    select
        strftime(returned_at, '%Y-%m') as month,
        count(*) as returns,
        count(*) filter (where rhi_offered_within_72h) as rhi_offered_within_72h,
        count(*) filter (where rhi_offered_at is not null and not rhi_offered_within_72h)
            as rhi_offered_later,
        count(*) filter (where rhi_offered_at is null) as rhi_not_offered,
        round(100.0 * count(*) filter (where rhi_offered_within_72h) / count(*), 1)
            as percent_within_72h
    from returns
    group by all
    order by month
)

select * from final
