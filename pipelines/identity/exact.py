"""Exact links: records that share a key are one child before any model is asked.

Each rule is one SQL query over identity_records giving pairs (record_a < record_b). The
rules are recomputed over every record each run (equi-joins: a second at national scale),
so a key corrected in a source removes the link it made.
"""

from __future__ import annotations

import duckdb

# A key shared by more records than this is not one child's: a default or test value keyed
# into many records (e.g. 0000000000 passes no check, but a council's dummy UPN might).
MAX_KEY_GROUP = 20

# Rule name -> the pairs it links. `a` and `b` are identity_records; every rule's pairs are
# ordered (a.record_id < b.record_id) except the cross-references, ordered afterwards.
EXACT_RULES: dict[str, str] = {
    # Sources of one agency share person references (README.md, "Sources": `agency`).
    "same_agency_ref": """
        select a.record_id, b.record_id
        from identity_records a join identity_records b
          on a.agency = b.agency and a.person_ref = b.person_ref
         and a.record_id < b.record_id
    """,
    "shared_nhs_number": """
        select a.record_id, b.record_id
        from identity_records a join identity_records b
          on a.nhs_number = b.nhs_number and a.record_id < b.record_id
        where a.nhs_number in (select nhs_number from identity_records group by 1
                               having count(*) <= {max_group})
    """,
    "shared_upn": """
        select a.record_id, b.record_id
        from identity_records a join identity_records b
          on a.upn = b.upn and a.record_id < b.record_id
        where a.upn in (select upn from identity_records group by 1
                        having count(*) <= {max_group})
    """,
    # A police record's la_child_ref is the person_ref of a council's record: another
    # agency's record that carries no la_child_ref itself (a council's own records do not).
    "la_child_ref": """
        select a.record_id, b.record_id
        from identity_records a join identity_records b
          on a.la_child_ref = b.person_ref and a.agency <> b.agency
        where b.la_child_ref is null
    """,
    # A council record's police_ref is the person_ref of a police record: another agency's
    # record that carries no police_ref itself.
    "police_ref": """
        select a.record_id, b.record_id
        from identity_records a join identity_records b
          on a.police_ref = b.person_ref and a.agency <> b.agency
        where b.police_ref is null
    """,
}


def exact_pairs_sql() -> str:
    """Every exact link as (record_a, record_b, rule), record_a < record_b, one row per
    pair and rule."""
    parts = [
        f"select least(x, y) as record_a, greatest(x, y) as record_b, '{rule}' as rule "
        f"from ({sql.format(max_group=MAX_KEY_GROUP)}) p(x, y)"
        for rule, sql in EXACT_RULES.items()
    ]
    return "select distinct * from (" + "\nunion all\n".join(parts) + ")"


def exact_pairs(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """The exact links among the identity store's records, sorted."""
    return con.execute(f"select * from ({exact_pairs_sql()}) order by all").fetchall()
