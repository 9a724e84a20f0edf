-- One row per spell of a child off a school roll (children missing education), from the
-- councils' cme registers. A separate measure: never merged with police or council missing
-- episodes, only linked to them by person_id. Days off roll count to the resolution, or to
-- the run date while the spell is open (a resolution after the run date had not happened).
with spells as (
    select * from stg_off_roll_spells
),

person_ids as (
    select * from stg_person_ids
),

measured as (
    select
        spells.*,
        person_ids.person_id,
        resolved_on is null or resolved_on > getvariable('as_of')::date as is_open
    from spells
    left join person_ids on spells.child_id = person_ids.child_id
),

final as (
    select
        source || ':' || child_id || ':' || strftime(off_roll_on, '%Y-%m-%d') as cme_episode_id,
        source,
        child_id,
        person_id,
        off_roll_on,
        reason,
        resolved_on,
        greatest(
            date_diff(
                'day', off_roll_on, if(is_open, getvariable('as_of')::date, resolved_on)
            ),
            0
        ) as days_off_roll,
        is_open
    from measured
)

select * from final
