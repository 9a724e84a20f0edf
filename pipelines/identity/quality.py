"""linkage_quality: each run's counts, and with a truth file, precision and recall of pairs.

A pair is two records put in one person (predicted) or behind one true person (truth).
Precision = true pairs predicted / pairs predicted; recall = true pairs predicted / true
pairs; overall, by source pair, by sex and by age band (both records' values; `mixed` or
`unknown` where they differ or are missing). Truth is read only here, only when given.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

COUNTS_SQL = """
select 'records', 'all', count(*) from identity_records
union all select 'persons', 'all', count(distinct person_id) from person_links
union all select 'links', rule, count(*) from record_pairs group by rule
union all select 'review_backlog', 'all', count(*) from review_queue
"""

# Age bands of children as safeguarding reports use them, at the run date.
AGE_BAND_SQL = """
case when d is null then 'unknown'
     when date_diff('year', d, $now::date) < 10 then 'under 10'
     when date_diff('year', d, $now::date) < 14 then '10-13'
     when date_diff('year', d, $now::date) < 16 then '14-15'
     when date_diff('year', d, $now::date) < 18 then '16-17'
     else '18 and over' end
"""

PAIRS_SQL = """
with predicted as (
    select a.record_id as record_a, b.record_id as record_b
    from person_links a join person_links b
      on a.person_id = b.person_id and a.record_id < b.record_id
),
actual as (
    select a.record_id as record_a, b.record_id as record_b
    from linkage_truth a join linkage_truth b
      on a.true_person = b.true_person and a.record_id < b.record_id
),
pairs as (
    select record_a, record_b, p.record_a is not null as predicted,
           t.record_a is not null as actual
    from predicted p full join actual t using (record_a, record_b)
),
described as (
    select pairs.*,
           least(ra.source, rb.source) || ' & ' || greatest(ra.source, rb.source)
               as source_pair,
           case when ra.sex = rb.sex then ra.sex
                when ra.sex is null or rb.sex is null then 'unknown' else 'mixed' end as sex,
           case when ra.date_of_birth is null then null
                else least(ra.date_of_birth, coalesce(rb.date_of_birth, ra.date_of_birth))
           end as d
    from pairs
    join identity_records ra on ra.record_id = pairs.record_a
    join identity_records rb on rb.record_id = pairs.record_b
),
banded as (select *, {age_band} as age_band from described)
select dimension, breakdown,
       count(*) filter (where predicted and actual) as both,
       count(*) filter (where predicted) as predicted,
       count(*) filter (where actual) as actual
from (
    select 'all' as dimension, 'all' as breakdown, predicted, actual from banded
    union all select 'source_pair', source_pair, predicted, actual from banded
    union all select 'sex', sex, predicted, actual from banded
    union all select 'age_band', age_band, predicted, actual from banded
)
group by all order by all
"""


def write_quality(
    con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, truth: pd.DataFrame | None
) -> None:
    """This run's linkage_quality rows."""
    rows: list[tuple[str, datetime, str, str, float | None]] = [
        (run_id, now, m, b, float(v)) for m, b, v in con.execute(COUNTS_SQL).fetchall()
    ]
    if truth is not None:
        for dimension, breakdown, both, predicted, actual in pair_counts(con, truth, now):
            label = breakdown if dimension == "all" else f"{dimension}={breakdown}"
            precision = both / predicted if predicted else None
            recall = both / actual if actual else None
            rows += [
                (run_id, now, "precision", label, precision),
                (run_id, now, "recall", label, recall),
            ]
    con.executemany("insert into linkage_quality values (?, ?, ?, ?, ?)", rows)


def pair_counts(
    con: duckdb.DuckDBPyConnection, truth: pd.DataFrame, now: datetime
) -> list[tuple[str, str, int, int, int]]:
    """(dimension, breakdown, pairs both predicted and true, predicted, true)."""
    con.register("linkage_truth_frame", truth[["record_id", "true_person"]])
    try:
        con.execute(
            "create or replace temp table linkage_truth as "
            "select record_id, cast(true_person as varchar) as true_person "
            "from linkage_truth_frame"
        )
        sql = PAIRS_SQL.format(age_band=AGE_BAND_SQL.replace("$now", "$1"))
        return [tuple(r) for r in con.execute(sql, [now]).fetchall()]
    finally:
        con.unregister("linkage_truth_frame")
        con.execute("drop table if exists linkage_truth")


def truth_from_file(path: Path, key: bytes) -> pd.DataFrame:
    """A truth file (source, person_ref, true_person) as record_id and true_person."""
    from pipelines.ingest.pseudonym import child_ids

    frame = pd.read_csv(path, dtype=str)
    parts: list[pd.Series] = [
        child_ids(key, str(source), part["person_ref"]) for source, part in frame.groupby("source")
    ]
    ids = pd.concat(parts)
    return pd.DataFrame({"record_id": ids, "true_person": frame.loc[ids.index, "true_person"]})


def run_quality(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, str, float | None]]:
    """A run's measures: (measure, breakdown, value)."""
    return con.execute(
        "select measure, breakdown, value from linkage_quality where run_id = ? "
        "order by measure, breakdown",
        [run_id],
    ).fetchall()
