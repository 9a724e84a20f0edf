"""Persons: the links clustered (never-link decisions respected), each cluster given a
stable person_id, and every merge and split recorded.

Clustering: links are taken strongest first (reviewers' must-links, then exact rules, then
model links by match probability), and a link is refused when it would put two records a
reviewer said are different into one person: never-link beats any score. A model link is
also refused when it would give one person two NHS numbers or two UPNs: lookalikes (same
name, sex and date of birth) are likelier than a child with two NHS numbers, and the model
does not compare the keys (a shared key is an exact link already).

Which id survives (docs/linkage.md, "Stable person ids"):
1. An existing person_id goes to the new cluster holding most of its records (a tie: the
   cluster whose smallest record_id is smallest). So a person keeps its id when records join.
2. A cluster that gets several ids keeps the one held by most of its records (a tie: the
   person first linked earliest, then the smaller id); the others are merged into it.
3. A cluster that gets none has a new id: the keyed hash (pseudonym.keyed_hashes, namespace
   settings.PERSON_ID_NAMESPACE) of its smallest record_id, or of that record_id and `#2`,
   `#3`... if that id was ever used. A cluster of records that had an id is a split.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from operator import itemgetter

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines import settings
from pipelines.identity.scope import clustering_scope, keep_inputs, within_scope
from pipelines.ingest.pseudonym import keyed_hashes

# The temporary table of the records clustered alone, with their new ids (_alone).
ALONE = "alone_records"
# Every id a person has ever had (rule 3 never gives one again).
USED_IDS_SQL = """
select person_id from person_links
union all select person_id from person_changes
union all select other_person_id from person_changes where other_person_id is not null
"""
# Links taken first to last: reviewers' must-links, exact keys, then the model.
EDGES_SQL = """
select record_a, record_b, rule, match_probability from record_pairs
where {where}
order by case rule when 'decision' then 0 when 'model' then 2 else 1 end,
         match_probability desc nulls first, record_a, record_b, rule
"""


class Clusters:
    """Union-find over record ids whose unions refuse never-link pairs."""

    def __init__(
        self,
        records: list[str],
        never: list[tuple[str, str]],
        keys: dict[str, frozenset[str]] | None = None,
    ) -> None:
        self.parent = {r: r for r in records}
        # Each cluster's NHS numbers and UPNs (as "nhs:..." and "upn:..."), where it has any.
        self.keys: dict[str, frozenset[str]] = dict(keys or {})
        # Each cluster's records, kept only for clusters of two or more: most records stand
        # alone, and a list for each of 500,000 cost a second.
        self.members: dict[str, list[str]] = {}
        self.never: dict[str, set[str]] = defaultdict(set)
        for a, b in never:
            self.never[a].add(b)
            self.never[b].add(a)
        self.barred: dict[str, set[str]] = {r: set(self.never[r]) for r in self.never}

    def root(self, record: str) -> str:
        while self.parent[record] != record:
            self.parent[record] = self.parent[self.parent[record]]
            record = self.parent[record]
        return record

    def join(self, a: str, b: str, keys_must_agree: bool = False) -> bool:
        """Join two records' clusters unless a never-link decision forbids it (or, when
        `keys_must_agree`, the two hold different NHS numbers or UPNs)."""
        ra, rb = self.root(a), self.root(b)
        if ra == rb:
            return True
        members_a, members_b = self.members.get(ra) or [ra], self.members.get(rb) or [rb]
        if len(members_a) < len(members_b):
            ra, rb, members_a, members_b = rb, ra, members_b, members_a
        barred_a, barred_b = self.barred.get(ra, set()), self.barred.get(rb, set())
        # Checked only where a decision bars some record (few): building the member sets on
        # every join cost seconds at 500,000 records.
        if (barred_a and not barred_a.isdisjoint(members_b)) or (
            barred_b and not barred_b.isdisjoint(members_a)
        ):
            return False
        keys = self.keys.get(ra, frozenset()) | self.keys.get(rb, frozenset())
        if keys_must_agree and any(
            len({k for k in keys if k.startswith(kind)}) > 1 for kind in ("nhs:", "upn:")
        ):
            return False
        if keys:
            self.keys[ra] = keys
            self.keys.pop(rb, None)
        self.parent[rb] = ra
        members_a.extend(members_b)
        self.members[ra] = members_a
        self.members.pop(rb, None)
        if barred_a or barred_b:
            self.barred[ra] = barred_a | barred_b
            self.barred.pop(rb, None)
        return True

    def groups(self) -> list[list[str]]:
        """Every cluster's records, sorted, the clusters by their smallest record."""
        alone = [[r] for r, p in self.parent.items() if p == r and r not in self.members]
        # Clusters are disjoint: their smallest records alone order them.
        return sorted([sorted(m) for m in self.members.values()] + alone, key=itemgetter(0))


def cluster(
    con: duckdb.DuckDBPyConnection, scoped: bool = False
) -> tuple[list[list[str]], dict[str, tuple]]:
    """The clusters (of the scope's records only, when `scoped`: pipelines.identity.scope),
    but for the records of ALONE (_alone), and for each record the first accepted link that
    touched it."""
    in_scope = within_scope("record_id", scoped)
    records = [
        r[0]
        for r in con.execute(
            f"select record_id from identity_records anti join {ALONE} using (record_id) "
            f"where {in_scope}"
        ).fetchall()
    ]
    never = con.execute(
        "select record_a, record_b from link_decisions where decision = 'different' "
        f"and {within_scope('record_a', scoped)}"
    ).fetchall()
    keys = {
        record: frozenset(k for k in (nhs, upn) if k)
        for record, nhs, upn in con.execute(
            "select record_id, 'nhs:' || nhs_number, 'upn:' || upn from identity_records "
            f"where (nhs_number is not null or upn is not null) and {in_scope}"
        ).fetchall()
    }
    clusters = Clusters(records, never, keys)
    linked_by: dict[str, tuple] = {}
    edges = EDGES_SQL.format(where=within_scope("record_a", scoped))
    for a, b, rule, probability in con.execute(edges).fetchall():
        known = a in clusters.parent and b in clusters.parent
        if known and clusters.join(a, b, keys_must_agree=rule == "model"):
            linked_by.setdefault(a, (rule, probability))
            linked_by.setdefault(b, (rule, probability))
    return clusters.groups(), linked_by


def assign_persons(
    con: duckdb.DuckDBPyConnection,
    key: bytes,
    run_id: str,
    now: datetime,
    fingerprints: str | None = None,
) -> None:
    """Cluster the records that changed since the last clustering and every record joined to
    them (pipelines.identity.scope; every record on a store's first run), choose each
    cluster's person_id, update person_links and log changes. `fingerprints` names a table
    of (record_id, fingerprint) scored this run: a record alone takes its fingerprint into
    its new person_links row (updating 1.9 million rows afterwards took 8 s)."""
    scope = clustering_scope(con)
    scoped = scope is not None
    alone = _alone(con, key, scoped)
    groups, linked_by = cluster(con, scoped)
    # record -> (person_id, linked_at, run_id, scored_values, linked_by, match_probability)
    before = {
        row[0]: row[1:]
        for row in con.execute(
            "select record_id, person_id, linked_at, run_id, scored_values, linked_by, "
            f"match_probability from person_links where {within_scope('record_id', scoped)}"
        ).fetchall()
    }
    first_linked: dict[str, datetime] = {}
    for person, at, *_ in before.values():
        first_linked[person] = min(at, first_linked.get(person, at))
    ids = _unchanged(groups, before)
    moved = [index for index in range(len(groups)) if index not in ids]
    ids |= _surviving_ids(groups, moved, before, first_linked)
    _new_ids(con, key, groups, ids)
    changes = _changes(con, groups, moved, ids, before, run_id, now)
    rows = []
    for index, group in enumerate(groups):
        for record in group:
            old = before.get(record)
            rule, probability = linked_by.get(record, ("alone", None))
            if old and (old[0], old[4], old[5]) == (ids[index], rule, probability):
                continue  # unchanged: only what changed is written (500,000 rows a night)
            kept = old is not None and old[0] == ids[index]
            rows.append(
                (
                    record,
                    ids[index],
                    rule,
                    probability,
                    old[1] if kept and old else now,
                    old[2] if kept and old else run_id,
                    old[3] if old else None,
                )
            )
    _write_links(con, rows, changes)
    scored, join = (
        ("f.fingerprint", f"left join {fingerprints} f using (record_id)")
        if fingerprints
        else ("null", "")
    )
    con.execute(
        "insert into person_links "
        "(record_id, person_id, linked_by, linked_at, run_id, scored_values) "
        f"select record_id, a.person_id, 'alone', $now, $run, {scored} "
        f"from {ALONE} a {join} order by record_id",
        {"now": now, "run": run_id},
    )
    con.execute(f"drop table {ALONE}")
    keep_inputs(con, run_id, scoped, sum(map(len, groups)) + alone)


def _alone(con: duckdb.DuckDBPyConnection, key: bytes, scoped: bool) -> int:
    """Make ALONE the scope's records that no link touches and no person held, each with the
    id rule 3 gives it, and return how many.

    Such a record is a cluster of its own whatever the order of links, keeps no id and records
    no change: its id is the keyed hash of its record_id unless that id was ever used (then
    it is clustered with the rest, where rule 3 tries `#2`). A first run's 1.9 million
    records are mostly such; clustering them in Python took 26-28 s (docs/scaling.md).
    Another cluster's new id is the hash of another seed, so it cannot be one of these.
    """
    rows = con.sql(
        f"""
        select record_id from identity_records
        where {within_scope("record_id", scoped)}
        and record_id not in (select record_a from record_pairs)
        and record_id not in (select record_b from record_pairs)
        and record_id not in (select record_id from person_links)
        """
    ).to_arrow_table()["record_id"]
    hashed = keyed_hashes(key, settings.PERSON_ID_NAMESPACE, rows.combine_chunks())
    con.register("alone_hashed", pa.table({"record_id": rows, "person_id": hashed}))
    try:
        con.execute(
            f"""
            create or replace temp table {ALONE} as
            select * from alone_hashed where person_id not in ({USED_IDS_SQL})
            """
        )
    finally:
        con.unregister("alone_hashed")
    return con.execute(f"select count(*) from {ALONE}").fetchall()[0][0]


def _write_links(con: duckdb.DuckDBPyConnection, rows: list[tuple], changes: list[tuple]) -> None:
    """Changed person_links rows replaced, links of records no longer stored dropped, and
    the changes logged."""
    frame = pd.DataFrame(
        rows,
        columns=[
            "record_id",
            "person_id",
            "linked_by",
            "match_probability",
            "linked_at",
            "run_id",
            "scored_values",
        ],
    ).astype({"match_probability": "float64"})
    con.execute(
        "delete from person_links where record_id not in (select record_id from identity_records)"
    )
    con.register("new_person_links", frame)
    try:
        con.execute("insert or replace into person_links by name select * from new_person_links")
        if changes:
            con.executemany("insert into person_changes values (?, ?, ?, ?, ?, ?, ?)", changes)
    finally:
        con.unregister("new_person_links")


def _unchanged(groups: list[list[str]], before: dict[str, tuple]) -> dict[int, str]:
    """Clusters that are exactly the records of one person of the last run, and that
    person's id: rules 1 and 2 can give them no other (no other cluster holds a record of
    that person, and they hold no other person's), and they record no change. Most clusters
    on most nights: the rules need only be worked through for the rest."""
    size = Counter(map(itemgetter(0), before.values()))
    kept: dict[int, str] = {}
    for index, group in enumerate(groups):
        first = before.get(group[0])
        if first is None or size[first[0]] != len(group):
            continue
        person = first[0]
        if all((before.get(record) or ("",))[0] == person for record in group):
            kept[index] = person
    return kept


def _surviving_ids(
    groups: list[list[str]],
    indices: list[int],
    before: dict[str, tuple],
    first_linked: dict[str, datetime],
) -> dict[int, str]:
    """Rules 1 and 2: which existing id each of these clusters keeps (`indices` in order:
    every cluster holding a record of a person they hold is among them)."""
    held: dict[int, dict[str, int]] = {}
    for index in indices:
        counts: dict[str, int] = {}
        for record in groups[index]:
            old = before.get(record)
            if old is not None:
                counts[old[0]] = counts.get(old[0], 0) + 1
        held[index] = counts
    claims: dict[str, int] = {}
    for index, counts in held.items():
        for person, n in counts.items():
            best = claims.get(person)
            # Groups are in order of their smallest record, so a tie keeps the earlier one.
            if best is None or n > held[best][person]:
                claims[person] = index
    won: dict[int, list[str]] = defaultdict(list)
    for person, index in claims.items():
        won[index].append(person)
    # Most clusters win one id: the rule's ordering is needed only where several compete.
    return {
        index: people[0]
        if len(people) == 1
        else min(people, key=lambda p: (-held[index][p], first_linked[p], p))
        for index, people in won.items()
    }


def _new_ids(
    con: duckdb.DuckDBPyConnection, key: bytes, groups: list[list[str]], ids: dict[int, str]
) -> None:
    """Rule 3: a keyed hash of the smallest record_id, never an id used before."""
    assigned = set(ids.values())
    pending = [i for i in range(len(groups)) if i not in ids]
    attempt = 1
    while pending:
        seeds = [groups[i][0] + (f"#{attempt}" if attempt > 1 else "") for i in pending]
        hashed = keyed_hashes(key, settings.PERSON_ID_NAMESPACE, pa.array(seeds)).to_pylist()
        used = _ever_used(con, hashed) | assigned
        retry = []
        for index, person in zip(pending, hashed, strict=True):
            if person in used:
                retry.append(index)
            else:
                ids[index] = person
                used.add(person)
                assigned.add(person)
        pending, attempt = retry, attempt + 1


def _ever_used(con: duckdb.DuckDBPyConnection, candidates: list[str]) -> set[str]:
    """Which of these ids a person has ever had: only the candidates are looked up, since
    reading every id of 1.9 million persons into a set took seconds a night."""
    if not candidates:
        return set()
    con.register("candidate_ids", pa.table({"person_id": pa.array(candidates, pa.string())}))
    try:
        rows = con.execute(
            f"select person_id from candidate_ids where person_id in ({USED_IDS_SQL})"
        ).fetchall()
    finally:
        con.unregister("candidate_ids")
    return {r[0] for r in rows}


def _changes(
    con: duckdb.DuckDBPyConnection,
    groups: list[list[str]],
    indices: list[int],
    ids: dict[int, str],
    before: dict[str, tuple],
    run_id: str,
    now: datetime,
) -> list[tuple]:
    """person_changes rows: a merge for each id absorbed, a split for each cluster of
    records that had an id another cluster kept (only `indices` can have either: the
    others are a person of the last run, unchanged)."""
    rows: list[tuple] = []
    merges: list[tuple[list[str], list[str]]] = []
    surviving = set(ids.values())
    wanted = {before[r][0] for index in indices for r in groups[index] if r in before}
    records_of: dict[str, list[str]] = defaultdict(list)
    for record, old in before.items():
        if old[0] in wanted:
            records_of[old[0]].append(record)
    for index in indices:
        group, person = groups[index], ids[index]
        previous = sorted({before[r][0] for r in group if r in before})
        for other in previous:
            if other == person:
                continue
            if other in surviving:
                # Some of `other`'s records came here; `other` lives on elsewhere: a split.
                moved = [r for r in group if r in before and before[r][0] == other]
                gone = set(moved)
                stayed = [r for r in records_of[other] if r not in gone]
                reason = _split_reason(con, moved, stayed)
                rows.append((now, run_id, "split", other, person, moved[0], reason))
            else:
                # The reason is filled in below, for every merge at once.
                mine = [r for r in group if r not in before or before[r][0] != other]
                merges.append((mine, [r for r in group if r in before and before[r][0] == other]))
                rows.append((now, run_id, "merge", person, other, None, len(merges) - 1))
    reasons = _merge_reasons(con, merges)
    return [row[:-1] + (reasons[row[-1]],) if row[2] == "merge" else row for row in rows]


def _split_reason(con: duckdb.DuckDBPyConnection, moved: list[str], stayed: list[str]) -> str:
    """Why records left a person: a reviewer's never-link decision, or links gone."""
    decided = con.execute(
        """
        select decided_by from link_decisions
        where decision = 'different'
          and ((record_a in (select unnest($1)) and record_b in (select unnest($2)))
            or (record_a in (select unnest($2)) and record_b in (select unnest($1))))
        order by decided_at limit 1
        """,
        [moved, stayed],
    ).fetchall()
    if decided:
        return f"never-link decision by {decided[0][0]}"
    return "links no longer hold (records changed or keys corrected)"


def _merge_reasons(
    con: duckdb.DuckDBPyConnection, merges: list[tuple[list[str], list[str]]]
) -> list[str]:
    """Which rules linked each merge's two sides (the surviving person's records, the
    absorbed person's), in one query: one query per merge took seconds a night."""
    if not merges:
        return []
    sides = pa.table(
        {
            "merge": pa.array([k for k, (a, b) in enumerate(merges) for _ in (*a, *b)], pa.int64()),
            "side": pa.array([s for a, b in merges for s in (*[0] * len(a), *[1] * len(b))]),
            "record": pa.array([r for a, b in merges for r in (*a, *b)], pa.string()),
        }
    )
    con.register("merge_sides", sides)
    try:
        found = dict(
            con.execute(
                """
                select a.merge, string_agg(distinct p.rule, ', ' order by p.rule)
                from record_pairs p
                join merge_sides a on a.record = p.record_a
                join merge_sides b on b.record = p.record_b
                 and b.merge = a.merge and b.side <> a.side
                group by a.merge
                """
            ).fetchall()
        )
    finally:
        con.unregister("merge_sides")
    return ["linked by " + (found.get(k) or "records in common") for k in range(len(merges))]
