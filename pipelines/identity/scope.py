"""Which records a linkage run clusters again, and what the last clustering read.

Clustering takes links in one order and refuses some (never-link decisions, two NHS numbers
or UPNs on one person), so a cluster depends only on the links, keys and decisions of the
records joined to it by links: its component of the graph of links. A component whose links,
keys, decisions and records are all as the last clustering read them gives the same clusters
again, and the same person ids (the records of each of its persons are exactly one cluster).
So a run clusters only the records that differ from what the last run read, every record
joined to them by a link, and every record of a person any of them belonged to, until that
set is closed; the rest keep their person_links rows untouched. At 1.9 million records,
clustering them all took most of a night's linkage (docs/benchmarks.md).

What the last clustering read is kept in `clustered_pairs`, `clustered_keys` and
`clustered_never` (pipelines.identity.store); a store with no `clustering_runs` row (new, or
made before these tables) clusters every record once.
"""

from __future__ import annotations

import duckdb

# The temporary table of record ids a scoped run clusters.
SCOPE_TABLE = "clustering_scope"

# What clustering reads, each as the query of its current rows and the table its last
# reading is kept in: links (with the order's columns), NHS numbers and UPNs, never-links.
INPUTS = {
    "clustered_pairs": (
        "select record_a, record_b, rule, match_probability from record_pairs",
        ("record_a", "record_b"),
    ),
    "clustered_keys": (
        "select record_id, nhs_number, upn from identity_records "
        "where nhs_number is not null or upn is not null",
        ("record_id",),
    ),
    "clustered_never": (
        "select record_a, record_b from link_decisions where decision = 'different'",
        ("record_a", "record_b"),
    ),
}

# Records that differ from what the last clustering read: an end of a link, key or
# never-link that is new or gone, a record never clustered, and a record no longer stored.
SEEDS_SQL = " union ".join(
    [
        f"select {column} as record_id from (select * from ({a}) except select * from ({b}))"
        for kept, (now, columns) in INPUTS.items()
        for a, b in ((now, f"from {kept}"), (f"from {kept}", now))
        for column in columns
    ]
    + [
        "select record_id from identity_records anti join person_links using (record_id)",
        "select record_id from person_links anti join identity_records using (record_id)",
    ]
)

# One step out from the scope: records linked to it, and records of a person it holds.
GROW_SQL = f"""
insert into {SCOPE_TABLE}
select distinct record_id from (
    select record_b as record_id from record_pairs where record_a in (from {SCOPE_TABLE})
    union all
    select record_a from record_pairs where record_b in (from {SCOPE_TABLE})
    union all
    select l.record_id from person_links l
    where l.person_id in (select person_id from person_links
                          where record_id in (from {SCOPE_TABLE}))
)
where record_id not in (from {SCOPE_TABLE})
"""


def clustering_scope(con: duckdb.DuckDBPyConnection) -> int | None:
    """Make SCOPE_TABLE the records this run must cluster and return how many, or None when
    every record must be (no clustering has been kept yet)."""
    (runs,) = con.execute("select count(*) from clustering_runs").fetchall()[0]
    if runs == 0:
        return None
    con.execute(f"create or replace temp table {SCOPE_TABLE} as {SEEDS_SQL}")
    while con.execute(GROW_SQL).fetchall()[0][0]:
        pass
    return con.execute(f"select count(*) from {SCOPE_TABLE}").fetchall()[0][0]


def within_scope(column: str, scoped: bool) -> str:
    """A condition keeping the rows of the scope's records (true when not scoped)."""
    return f"{column} in (from {SCOPE_TABLE})" if scoped else "true"


def keep_inputs(con: duckdb.DuckDBPyConnection, run_id: str, scoped: bool, records: int) -> None:
    """Record what this clustering read: the scope's rows replaced (every row when not
    scoped), and the run."""
    for kept, (now, columns) in INPUTS.items():
        touching = " or ".join(within_scope(c, scoped) for c in columns)
        con.execute(f"delete from {kept} where {touching}")
        con.execute(f"insert into {kept} select * from ({now}) where {touching}")
    con.execute(
        "insert into clustering_runs values (?, ?, ?)",
        [run_id, "changed" if scoped else "all", records],
    )
    if scoped:
        con.execute(f"drop table {SCOPE_TABLE}")
