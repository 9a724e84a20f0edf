-- Every merge and split of linked persons: an analyst follows a person_id that changed here.
with changes as (
    select * from stg_person_changes
),

final as (
    select
        changed_at,
        run_id,
        change,
        person_id,
        other_person_id,
        record_id as child_id,
        reason
    from changes
)

select * from final
