-- Merges and splits of linked persons, as the identity stage recorded them.
with changes as (
    select * from work.person_changes
),

final as (
    select changed_at, run_id, change, person_id, other_person_id, record_id, reason
    from changes
)

select * from final
