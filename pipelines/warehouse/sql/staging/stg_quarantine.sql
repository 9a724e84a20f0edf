-- Rows that could not become episodes, with their reasons; the raw values stay behind.
with stored as (
    select * from work.quarantine
),

final as (
    select source, file, row_number, reasons
    from stored
)

select * from final
