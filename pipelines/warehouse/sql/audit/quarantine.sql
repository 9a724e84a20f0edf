-- Rows that could not become episodes, with every reason. Raw values stay private.
with stored as (
    select * from stg_quarantine
),

final as (
    select source, file, row_number, reasons from stored order by file, row_number
)

select * from final
