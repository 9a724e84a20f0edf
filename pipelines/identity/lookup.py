"""Audited look-ups: the agency references behind a person_id or a child_id.

Every look-up, found or not, is appended to lookup_audit (who, when, which id, rows shown)
before anything is shown.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

# The person's records, whether the id given is a person_id or one record's child_id.
LOOKUP_SQL = """
select r.source, r.agency, r.person_ref, p.person_id, r.record_id
from identity_records r
left join person_links p using (record_id)
where p.person_id = $1
   or p.person_id = (select person_id from person_links where record_id = $1)
   or (r.record_id = $1 and p.person_id is null)
order by r.agency, r.source, r.person_ref
"""


def lookup(
    con: duckdb.DuckDBPyConnection, looked_up_id: str, by: str, now: datetime
) -> list[tuple[str, str, str, str | None, str]]:
    """(source, agency, person_ref, person_id, record_id) behind an id; audited."""
    rows = con.execute(LOOKUP_SQL, [looked_up_id]).fetchall()
    con.execute(
        "insert into lookup_audit values (?, ?, ?, ?, ?)",
        [now, by, looked_up_id, "lookup", len(rows)],
    )
    return rows
