-- Which working store this is: a published database must never pass for one built from
-- another store.
with stored as (
    select * from work.store_identity
),

final as (
    select store_id, created_at
    from stored
)

select * from final
