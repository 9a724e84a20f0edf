"""Linking a run: exact keys, then the saved splink model on new or changed records, then
reviewers' decisions, then clusters with stable person ids (docs/linkage.md).

Only records whose compared values changed since they were last scored (or that are new) are
scored: against every other record (splink's predict_between) and among themselves
(predict_within). Pairs at or above settings.LINK_UPPER_PROBABILITY are links; pairs from
settings.LINK_LOWER_PROBABILITY up wait in review_queue; link_decisions overrule both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipelines import settings
from pipelines.identity.exact import exact_pairs_sql
from pipelines.identity.model import create_model_input, model_for, quiet_splink
from pipelines.identity.persons import assign_persons
from pipelines.identity.quality import write_quality

# The temporary table of this run's changed records and their fingerprints (record_id,
# fingerprint): scored again, and given to assign_persons for the records left alone.
CHANGED = "changed_records"
# What the model compares, fingerprinted: a record whose fingerprint differs from the one
# person_links kept when it was last scored is scored again.
FINGERPRINT_SQL = """
md5(concat_ws('|', coalesce(forename, ''), coalesce(surname, ''),
    coalesce(cast(date_of_birth as varchar), ''), coalesce(postcode, ''), coalesce(sex, '')))
"""

# splink finds and compares its pairs by their unique ids: numbered records (record_key)
# make its joins and its table of candidate pairs far cheaper than the 32-character
# record_ids (predict_within over 502,000 records: 6.1 s against 9.2 s; docs/scaling.md).
# The numbers are in no particular order: pairs go back to record ids before anything
# keeps them, and every comparison gives the same level whichever record is on the left.
KEYED_INPUT_SQL = """
select row_number() over () as record_key, * from {table}
"""

# Pairs scored by splink, as record ids ordered record_a < record_b, with each comparison's
# weight kept for the review page (pipelines.identity.review draws the waterfall from it).
SCORED_PAIRS_SQL = """
select least(l.record_id, r.record_id) as record_a,
       greatest(l.record_id, r.record_id) as record_b,
       s.match_probability, s.match_weight,
       to_json({{{weights}}}) as weights
from {table} s
join link_all l on l.record_key = s.record_key_l
join link_all r on r.record_key = s.record_key_r
"""


@dataclass(frozen=True)
class LinkSummary:
    """What a linkage run did, for the nightly's summary lines."""

    records: int
    scored: int
    persons: int
    links: int
    queued: int

    def lines(self) -> list[str]:
        return [
            f"linkage: {self.records} records, {self.persons} persons, {self.links} links, "
            f"{self.scored} records scored, {self.queued} pairs awaiting review"
        ]


def link_records(
    con: duckdb.DuckDBPyConnection,
    key: bytes,
    run_id: str,
    model_path: Path | None,
    now: datetime,
    truth: pd.DataFrame | None = None,
) -> LinkSummary:
    """Link the identity store's records and give each a stable person_id (person_links),
    recording merges and splits (person_changes) and the run's quality (linkage_quality).
    `truth` (record_id, true_person), where given, adds precision and recall."""
    model_path = model_path or settings.LINKAGE_MODEL
    con.execute("begin transaction")
    try:
        # Inside the transaction: a failed run leaves no table of its changed records behind.
        changed = _changed_records(con)
        _refresh_exact_pairs(con, run_id)
        _forget_changed(con)
        if changed:
            _score(con, model_path, run_id, now)
        _apply_decisions(con, run_id)
        assign_persons(con, key, run_id, now, fingerprints=CHANGED)
        _remember_scored(con)
        con.execute(
            "insert into linkage_runs values (?, ?, ?, ?)",
            [run_id, now, changed, str(model_path)],
        )
        write_quality(con, run_id, now, truth)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return summary(con, run_id)


def summary(con: duckdb.DuckDBPyConnection, run_id: str) -> LinkSummary:
    """The identity store's counts after a run."""
    row = con.execute(
        """
        select (select count(*) from identity_records),
               (select records_scored from linkage_runs where run_id = $1),
               (select count(distinct person_id) from person_links),
               (select count(*) from (select distinct record_a, record_b from record_pairs)),
               (select count(*) from review_queue)
        """,
        [run_id],
    ).fetchall()[0]
    return LinkSummary(*(int(v or 0) for v in row))


def _changed_records(con: duckdb.DuckDBPyConnection) -> int:
    """Make CHANGED the records never scored, or whose compared values differ from
    when they were, each with its fingerprint now; how many. (A first run's 1.9 million
    ids stay in DuckDB: read into Python and back they cost seconds.)"""
    con.execute(
        f"""
        create or replace temp table {CHANGED} as
        select record_id, fingerprint from (
            select r.record_id, p.scored_values, {FINGERPRINT_SQL} as fingerprint
            from identity_records r
            left join person_links p using (record_id)
        )
        where scored_values is distinct from fingerprint
        """
    )
    return int(con.execute(f"select count(*) from {CHANGED}").fetchall()[0][0])


def _refresh_exact_pairs(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Exact links recomputed over every record: a corrected key drops the link it made;
    a pair already linked by a rule keeps the run that first linked it."""
    con.execute(f"create or replace temp table exact_now as {exact_pairs_sql()}")
    con.execute(
        """
        delete from record_pairs p
        where rule not in ('model', 'decision')
          and not exists (select 1 from exact_now e where e.record_a = p.record_a
                          and e.record_b = p.record_b and e.rule = p.rule)
        """
    )
    con.execute(
        """
        insert into record_pairs
        select record_a, record_b, rule, null, null, ? from exact_now
        on conflict do nothing
        """,
        [run_id],
    )
    con.execute("drop table exact_now")


def _forget_changed(con: duckdb.DuckDBPyConnection) -> None:
    """Model links and queued pairs of changed records are scored again from scratch."""
    for table, where in (("record_pairs", "rule = 'model' and "), ("review_queue", "")):
        con.execute(
            f"""
            delete from {table}
            where {where}(record_a in (select record_id from {CHANGED})
                          or record_b in (select record_id from {CHANGED}))
            """
        )


def _weights_sql(model: dict[str, Any]) -> str:
    """A struct of each comparison's level and match weight (with its term-frequency
    adjustment, where it has one)."""
    parts = []
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        tf = any("tf_adjustment_column" in lv for lv in comparison["comparison_levels"])
        mw = f"mw_{name}" + (f" + coalesce(mw_tf_adj_{name}, 0)" if tf else "")
        parts.append(f"'{name}': {{'level': gamma_{name}, 'weight': {mw}}}")
    return ", ".join(parts)


def _score(
    con: duckdb.DuckDBPyConnection,
    model_path: Path,
    run_id: str,
    now: datetime,
) -> None:
    """Score changed records against the rest and among themselves; keep links and queue
    the grey zone."""
    from splink import DuckDBAPI, Linker

    create_model_input(con, "link_input")
    con.execute(
        f"create or replace temp table link_all as {KEYED_INPUT_SQL.format(table='link_input')}"
    )
    con.execute("drop table link_input")
    records = con.execute("select count(*) from link_all").fetchall()[0][0]
    model = model_for(model_path, records) | {"unique_id_column_name": "record_key"}
    con.execute(
        "create or replace temp table link_new as select * from link_all "
        f"where record_id in (select record_id from {CHANGED})"
    )
    con.execute(
        "create or replace temp table link_old as select * from link_all "
        f"where record_id not in (select record_id from {CHANGED})"
    )
    has_old = con.execute("select count(*) from link_old").fetchall()[0][0] > 0
    db_api = DuckDBAPI(connection=con)
    with quiet_splink():
        every = db_api.register("link_all")
        new, old = db_api.register("link_new"), db_api.register("link_old")
        linker = Linker(every, model, log_level=None)
        for column in ("forename", "surname"):
            linker.table_management.compute_tf_table(column)
        lower = settings.LINK_LOWER_PROBABILITY
        scored = [
            linker.inference.predict_within(
                new, threshold_match_probability=lower, warning_mode="never"
            )
        ]
        if has_old:
            scored.append(
                linker.inference.predict_between(
                    old, new, threshold_match_probability=lower, warning_mode="never"
                )
            )
        weights = _weights_sql(model)
        union = " union all ".join(
            SCORED_PAIRS_SQL.format(weights=weights, table=s.physical_name) for s in scored
        )
        con.execute(f"create or replace temp table scored_pairs as {union}")
    db_api.delete_tables_created_by_splink_from_db()
    for table in ("link_all", "link_new", "link_old"):
        con.execute(f"drop table {table}")
    _keep_scored(con, run_id, now)


def _keep_scored(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime) -> None:
    """Links above the upper threshold; the grey zone to the queue unless a rule or a
    reviewer has already said."""
    upper = settings.LINK_UPPER_PROBABILITY
    con.execute(
        """
        insert into record_pairs
        select record_a, record_b, 'model', match_probability, match_weight, ?
        from scored_pairs where match_probability >= ?
        on conflict do nothing
        """,
        [run_id, upper],
    )
    con.execute(
        """
        insert into review_queue
        select record_a, record_b, match_probability, match_weight, ?, ?, weights
        from scored_pairs s
        where match_probability < ?
          and not exists (select 1 from record_pairs p
                          where p.record_a = s.record_a and p.record_b = s.record_b)
          and not exists (select 1 from link_decisions d
                          where d.record_a = s.record_a and d.record_b = s.record_b)
        on conflict do nothing
        """,
        [now, run_id, upper],
    )
    con.execute("drop table scored_pairs")


def _apply_decisions(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Must-link decisions become links; a decided or linked pair leaves the queue."""
    con.execute("delete from record_pairs where rule = 'decision'")
    con.execute(
        """
        insert into record_pairs
        select record_a, record_b, 'decision', null, null, ? from link_decisions
        where decision = 'same'
          and record_a in (select record_id from identity_records)
          and record_b in (select record_id from identity_records)
        """,
        [run_id],
    )
    # A decided pair, or one a rule has linked since it was queued, needs no reviewer.
    con.execute(
        """
        delete from review_queue q
        where exists (select 1 from link_decisions d
                      where d.record_a = q.record_a and d.record_b = q.record_b)
           or exists (select 1 from record_pairs p
                      where p.record_a = q.record_a and p.record_b = q.record_b)
        """
    )


def _remember_scored(con: duckdb.DuckDBPyConnection) -> None:
    """Each scored record's fingerprint, so the next run scores it only if it changes."""
    con.execute(
        f"""
        update person_links p set scored_values = c.fingerprint
        from {CHANGED} c
        where c.record_id = p.record_id and p.scored_values is distinct from c.fingerprint
        """
    )
    con.execute(f"drop table {CHANGED}")
