-- The linked persons a council source holds a record of, with episodes or without (its
-- SSDA903 tables, case-management extract or children missing education register): whom the
-- council knows, for agency_reconciliation's gaps and persons' known_to_council. Police
-- sources have the standard or a mapped layout; every other layout is a council's.
with person_ids as (
    select * from stg_person_ids
),

child_sources as (
    select * from stg_person_sources
),

declared_sources as (
    select * from source_declarations
),

council_sources as (
    select source from declared_sources
    where layout not in ('standard', 'mapped')
),

final as (
    select distinct person_ids.person_id
    from person_ids
    inner join child_sources using (child_id)
    semi join council_sources using (source)
)

select * from final
