-- Spells off a school roll from the council registers of children missing education (cme
-- files), one row per (source, child, off-roll date): a register is sent whole each time, so
-- the latest file's row of a spell gives its reason and resolution.
with cme_rows as (
    select * from work.cme_rows
),

latest as (
    select
        source,
        child_id,
        off_roll_on,
        reason,
        resolved_on,
        file,
        row_number
    from cme_rows
    qualify row_number() over (
            partition by source, child_id, off_roll_on
            order by ingest_seq desc, row_number desc
        ) = 1
),

final as (
    select * from latest
)

select * from final
