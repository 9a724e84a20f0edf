-- The source each child id was made from (a child id is a keyed hash of source and person
-- reference): which agency knows a linked person. The person references stay behind.
with person_keys as (
    select * from work.person_keys
),

final as (
    select distinct child_id, source
    from person_keys
)

select * from final
