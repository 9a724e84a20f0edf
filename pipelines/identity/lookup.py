"""Audited look-ups: the agency references behind a person_id or a child_id.

Every look-up, found or not, is appended to lookup_audit (who, when, which id, rows shown)
before anything is shown; every export of the practitioners' list to export_audit before its
file appears.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb

# Each id's records, whether the id is a person_id or one record's child_id (a record not
# linked is a person of its own): one row per id and record, in agency order.
RECORDS_SQL = """
with wanted as (
    select distinct unnest($ids::varchar[]) as looked_up_id
),
resolved as (
    select
        looked_up_id,
        coalesce(
            (select any_value(l.person_id) from person_links l where l.person_id = looked_up_id),
            (select any_value(l.person_id) from person_links l where l.record_id = looked_up_id)
        ) as person_id
    from wanted
),
members as (
    select resolved.looked_up_id, l.record_id, l.person_id
    from resolved join person_links l using (person_id)
    union all
    select looked_up_id, looked_up_id, null from resolved where person_id is null
)
select
    m.looked_up_id, r.source, r.agency, r.person_ref, m.person_id, r.record_id,
    r.forename, r.surname, r.date_of_birth
from members m
join identity_records r using (record_id)
order by m.looked_up_id, r.agency, r.source, r.person_ref
"""

Record = tuple[str, str, str, str, str | None, str, str | None, str | None, date | None]


def records_of(con: duckdb.DuckDBPyConnection, ids: list[str]) -> list[Record]:
    """(id, source, agency, person_ref, person_id, record_id, forename, surname, date of
    birth) of every record behind each id; not audited (callers audit what they show)."""
    return [tuple(row) for row in con.execute(RECORDS_SQL, {"ids": ids}).fetchall()]


def lookup(
    con: duckdb.DuckDBPyConnection, looked_up_id: str, by: str, now: datetime
) -> list[tuple[str, str, str, str | None, str]]:
    """(source, agency, person_ref, person_id, record_id) behind an id; audited."""
    rows = [r[1:6] for r in records_of(con, [looked_up_id])]
    con.execute(
        "insert into lookup_audit values (?, ?, ?, ?, ?)",
        [now, by, looked_up_id, "lookup", len(rows)],
    )
    return rows


def audit_export(
    con: duckdb.DuckDBPyConnection,
    now: datetime,
    by: str,
    purpose: str | None,
    as_of: date,
    path: str,
    file_format: str,
    children: int,
    records: int,
) -> None:
    """Append one export of the practitioners' list to export_audit."""
    con.execute(
        "insert into export_audit values (?, ?, ?, ?, ?, ?, ?, ?)",
        [now, by, purpose, as_of, path, file_format, children, records],
    )
