-- How well the agencies' records were linked, run by run: counts, and with synthetic data's
-- truth, precision and recall of pairs.
with measured as (
    select * from stg_linkage_quality
),

final as (
    select run_id, measured_at, measure, breakdown, value
    from measured
)

select * from final
