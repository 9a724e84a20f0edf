-- Each linkage run's measures, as the identity stage recorded them.
with measured as (
    select * from work.linkage_quality
),

final as (
    select run_id, measured_at, measure, breakdown, value
    from measured
)

select * from final
