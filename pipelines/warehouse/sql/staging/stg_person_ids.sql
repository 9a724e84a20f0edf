-- The linked person behind each child id (the identity stage's pseudonymous output).
with linked as (
    select * from work.person_ids
),

final as (
    select child_id, person_id, linked_by
    from linked
)

select * from final
