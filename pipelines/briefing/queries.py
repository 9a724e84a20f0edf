"""The figures behind each page of the briefing, one function per page, in SQL.

Every function takes an open read-only connection to the curated database and a month
``YYYY-MM``; episodes belong to the month in which they were reported. Results are raw counts:
suppression happens when the page is laid out, so that totals are computed from true values.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd

CATEGORIES = ("missing", "absent", "away", "undetermined")
COHORT = "3_in_90_days"
COHORT_DEFINITIONS = ("3_in_90_days", "missing_3_in_90_days")
TREND_MONTHS = 13

Con = duckdb.DuckDBPyConnection
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(month: str) -> datetime:
    """The first instant of ``YYYY-MM``; a plain ValueError for anything else."""
    match = _MONTH.match(month)
    if not match:
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    return datetime(int(match[1]), int(match[2]), 1)


def shift_month(month: str, by: int) -> str:
    start = parse_month(month)
    index = start.year * 12 + start.month - 1 + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_span(month: str, months: int = 1) -> tuple[datetime, datetime]:
    """[start, end) of ``months`` months ending with ``month``."""
    return parse_month(shift_month(month, 1 - months)), parse_month(shift_month(month, 1))


def fetch(con: Con, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    # Arrow is the fast path out of DuckDB (.df() converts row by row, and a DB-API cursor's
    # Arrow output copies the rows once more).
    return con.sql(sql, params=params or None).to_arrow_table().to_pandas()


def data_as_of(con: Con) -> date | None:
    """The date the data runs to: the build manifest's as-of, else the latest published
    run's; None when neither says."""
    tables = {t for (t,) in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
    sql = "SELECT max(as_of)::DATE FROM build_manifest"
    if "build_manifest" not in tables:
        if "runs" not in tables:
            return None
        sql = "SELECT max(as_of)::DATE FROM runs WHERE status = 'published'"
    ((found,),) = con.sql(sql).fetchall()
    return found


# The sources the demo generator (pipelines.synth) writes: fictional forces and a fictional
# council, whose names no real extract carries (tests/unit/test_briefing_messages.py keeps
# this in step with pipelines.synth.generator.SOURCES).
SYNTHETIC_SOURCES = ("northshire", "eastmoor", "westvale", "southbay", "riverton")


def synthetic_data(con: Con) -> bool:
    """Whether the database holds synthetic data: the build manifest's ``synthetic_data``
    flag where a build records one, else whether any file loaded came from a source the
    demo generator writes (its council's sources are ``riverton`` and ``riverton_*``)."""
    columns = con.sql(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'build_manifest'"
    ).fetchall()
    if ("synthetic_data",) in columns:
        ((flag,),) = con.sql("SELECT bool_or(synthetic_data) FROM build_manifest").fetchall()
        return bool(flag)
    names = [s for (s,) in con.sql("SELECT DISTINCT source FROM ingest_files").fetchall()]
    return any(str(n).split("_")[0] in SYNTHETIC_SOURCES for n in names)


def episodes_in(con: Con, month: str) -> int:
    """Episodes reported in ``month``."""
    ((n,),) = con.sql(
        "SELECT count(*) FROM episodes WHERE reported_at >= ? AND reported_at < ?",
        params=list(month_span(month)),
    ).fetchall()
    return int(n)


def _by_month(con: Con, month: str, months: int, select: str) -> pd.DataFrame:
    """One row per month in the window (zeros for empty months), ``select`` over its episodes."""
    start, end = month_span(month, months)
    sql = f"""
        WITH m AS (
            SELECT strftime(range, '%Y-%m') AS month, range AS start_at,
                   range + INTERVAL 1 MONTH AS end_at
            FROM range(?::TIMESTAMP, ?::TIMESTAMP, INTERVAL 1 MONTH)
        )
        SELECT m.month, {select}
        FROM m
        LEFT JOIN episodes e ON e.reported_at >= m.start_at AND e.reported_at < m.end_at
        LEFT JOIN (
            SELECT child_id, {_ENTERED} FROM repeat_missing GROUP BY child_id
        ) r ON r.child_id = e.child_id
        GROUP BY m.month, m.end_at ORDER BY m.month
    """
    return fetch(con, sql, [start, end]).set_index("month")


_CATEGORY_COUNTS = ", ".join(
    f"count(e.episode_id) FILTER (WHERE e.category = '{c}') AS {c}" for c in CATEGORIES
)
_ENTERED = ", ".join(
    f"min(entered_at) FILTER (WHERE definition = '{d}') AS \"{d}\"" for d in COHORT_DEFINITIONS
)
# A child counts in a month's cohort when reported that month, having entered by its end.
_COHORT_CHILDREN = 'count(DISTINCT e.child_id) FILTER (WHERE r."{d}" < m.end_at) AS "{d}"'


def trends(con: Con, month: str) -> pd.DataFrame:
    """Page 2 (and page 1's rows): the 13 months ending with ``month``, one row each.

    ``other`` counts episodes outside the four categories, so that categories always add up
    to ``episodes``; the contract says it stays 0.
    """
    return _by_month(
        con,
        month,
        TREND_MONTHS,
        f"""count(e.episode_id) AS episodes, count(DISTINCT e.child_id) AS children,
        {_CATEGORY_COUNTS}, count(e.episode_id) - count(e.episode_id) FILTER
            (WHERE e.category IN {CATEGORIES}) AS other,
        {_COHORT_CHILDREN.format(d=COHORT)},
        count(e.episode_id) FILTER (WHERE e.found_within_24h) AS found_24h,
        count(e.found_within_24h) AS returned""",
    ).rename(columns={COHORT: "cohort_children"})


def headline(con: Con, month: str) -> pd.DataFrame:
    """Page 1: rows for the month, the month before and the same month a year before.

    RHI figures come from ``rhi_compliance`` and so count returns in the month, not reports.
    """
    months = [month, shift_month(month, -1), shift_month(month, -12)]
    found = fetch(
        con,
        """SELECT month, sum(returns)::BIGINT AS rhi_returns,
                  sum(rhi_offered_within_72h)::BIGINT AS rhi_within_72h
           FROM rhi_compliance WHERE month IN (SELECT unnest(?::VARCHAR[])) GROUP BY month""",
        [months],
    )
    rhi = found.set_index("month").reindex(months).fillna(0).astype("int64")
    return trends(con, month).loc[months].join(rhi)


PER_CHILD_BANDS = ["1", "2", "3-5", "6-9", "10 or more"]


def repeat_missing(con: Con, month: str) -> dict[str, Any]:
    """Page 3: the cohort and its new entrants over 13 months; over the 12 months to the end
    of ``month``, children by episodes each and the share of episodes of the top 10%."""
    cohort = ", ".join(_COHORT_CHILDREN.format(d=d) for d in COHORT_DEFINITIONS)
    series = _by_month(con, month, TREND_MONTHS, cohort)
    start, end = month_span(month, TREND_MONTHS)
    entrants = fetch(
        con,
        """SELECT strftime(entered_at, '%Y-%m') AS month, definition, count(*) AS n
           FROM repeat_missing WHERE entered_at >= ? AND entered_at < ? GROUP BY ALL""",
        [start, end],
    )
    entrants = entrants.pivot_table(index="month", columns="definition", values="n", aggfunc="sum")
    entrants = entrants.reindex(index=series.index, columns=list(COHORT_DEFINITIONS))
    per_child = fetch(
        con,
        """WITH c AS (
               SELECT child_id, count(*) AS n FROM episodes
               WHERE reported_at >= ? AND reported_at < ? GROUP BY child_id
           ), ranked AS (
               SELECT n, row_number() OVER (ORDER BY n DESC, child_id) AS rank,
                      count(*) OVER () AS children
               FROM c
           )
           SELECT CASE WHEN n <= 2 THEN n::VARCHAR WHEN n <= 5 THEN '3-5'
                       WHEN n <= 9 THEN '6-9' ELSE '10 or more' END AS band,
                  count(*) AS children, sum(n)::BIGINT AS episodes,
                  count(*) FILTER (WHERE rank <= ceil(children / 10.0)) AS top_children,
                  coalesce(sum(n) FILTER (WHERE rank <= ceil(children / 10.0)), 0)::BIGINT
                      AS top_episodes
           FROM ranked GROUP BY band""",
        list(month_span(month, 12)),
    ).set_index("band")
    return {
        "cohort": series,
        "entrants": entrants.fillna(0).astype("int64"),
        "per_child": per_child["children"].reindex(PER_CHILD_BANDS).fillna(0).astype("int64"),
        "concentration": {k: int(v) for k, v in per_child.drop(columns="children").sum().items()}
        | {"children": int(per_child["children"].sum())},
    }


def _crosstab(con: Con, month: str, rows: str, cols: str, order: list[str] | None) -> pd.DataFrame:
    """Episodes of the month counted by two expressions, rows in ``order`` (None: sorted).

    Row values outside ``order`` are counted under ``other`` rather than dropped: a table
    whose total fell short of the month's episodes would disclose the shortfall.
    """
    start, end = month_span(month)
    found = fetch(
        con,
        f"""SELECT coalesce(({rows})::VARCHAR, 'not recorded') AS r,
                   coalesce(({cols})::VARCHAR, 'not recorded') AS c, count(*) AS n
            FROM episodes WHERE reported_at >= ? AND reported_at < ? GROUP BY ALL""",
        [start, end],
    )
    order = sorted(set(found["r"])) if order is None else order
    found["r"] = [r if r in order else "other" for r in found["r"]]
    order = order + (["other"] if "other" in set(found["r"]) - set(order) else [])
    table = pd.DataFrame(0, index=order, columns=sorted(set(found["c"])), dtype="int64")
    for r, c, n in zip(found["r"], found["c"], found["n"], strict=True):
        table.loc[r, c] += int(n)
    return table


def _counts(con: Con, month: str, expr: str, order: list[str]) -> pd.DataFrame:
    table = _crosstab(con, month, expr, "'Episodes'", order)
    return table.reindex(columns=["Episodes"], fill_value=0)


AGE_BANDS = ["Under 10", "10-11", "12-13", "14-15", "16-17", "Not recorded"]
_AGE = """CASE WHEN age_at_start IS NULL THEN 'Not recorded' WHEN age_at_start < 10 THEN 'Under 10'
    WHEN age_at_start < 12 THEN '10-11' WHEN age_at_start < 14 THEN '12-13'
    WHEN age_at_start < 16 THEN '14-15' ELSE '16-17' END"""
LOOKED_AFTER = ["Looked after", "Not looked after", "Not recorded"]
_LOOKED_AFTER = """CASE WHEN looked_after THEN 'Looked after'
    WHEN NOT looked_after THEN 'Not looked after' ELSE 'Not recorded' END"""
PLACES = ["home", "foster", "residential", "other", "not recorded"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
HOUR_BANDS = ["00-03", "04-07", "08-11", "12-15", "16-19", "20-23"]
NO_TIME_BAND = "none"
# No time of day was recorded: the council's SSDA903 return holds start dates only (rule
# ssda903_recorded), and a date-only cell in a police extract parses to midnight exactly.
# A report at 00:00:00 to the second is far likelier a date without a time than a real one.
NO_TIME = "(rule = 'ssda903_recorded' OR reported_at = date_trunc('day', reported_at))"


def who_and_when(con: Con, month: str) -> dict[str, pd.DataFrame]:
    """Page 4: episodes by age band and looked-after status, place, day and time reported."""
    age = _crosstab(con, month, _AGE, _LOOKED_AFTER, AGE_BANDS)
    place = _counts(con, month, "coalesce(missing_from, 'not recorded')", PLACES)
    hours = f"CASE WHEN {NO_TIME} THEN '{NO_TIME_BAND}' ELSE "
    hours += "lpad((hour(reported_at) // 4 * 4)::VARCHAR, 2, '0') || '-' || "
    hours += "lpad((hour(reported_at) // 4 * 4 + 3)::VARCHAR, 2, '0') END"
    when = _crosstab(con, month, "strftime(reported_at, '%a')", hours, DAYS)
    return {
        "age": age.reindex(columns=LOOKED_AFTER, fill_value=0),
        "place": place,
        "when": when.reindex(columns=[*HOUR_BANDS, NO_TIME_BAND], fill_value=0),
    }


DURATION_BANDS = ["<24h", "24-48h", "2-7 days", "7-30 days", ">30 days", "open"]
OUTCOMES = ["returned", "found_by_police", "found_by_other", "found_harmed", "found_dead"]
RISK_GRADES = ["no_apparent_risk", "low", "medium", "high", "not recorded"]


def durations_and_outcomes(con: Con, month: str) -> dict[str, Any]:
    """Page 5: duration bands, outcomes, risk grades, absent decisions to review."""
    durations = _counts(con, month, "coalesce(duration_band, 'open')", DURATION_BANDS)
    outcome = _counts(
        con,
        month,
        "CASE WHEN is_open THEN 'still open' ELSE coalesce(outcome, 'not recorded') END",
        [*OUTCOMES, "not recorded", "still open"],
    )
    risk = _counts(con, month, "coalesce(risk_grade, 'not recorded')", RISK_GRADES)
    review = fetch(
        con,
        """SELECT count(*) FILTER (WHERE absent_needs_review) AS n FROM episodes
           WHERE reported_at >= ? AND reported_at < ?""",
        list(month_span(month)),
    )
    return {
        "durations": durations,
        "outcomes": outcome,
        "risk": risk,
        "needs_review": int(review["n"].iloc[0]),
    }


# Quarantine reasons quote the offending raw value, which may be personal: only a reason's
# check name, and a column name from this list, ever leave the database.
# fmt: off
KNOWN_COLUMNS = frozenset((
    "episode_ref", "person_ref", "date_of_birth", "reported_at", "last_seen_at", "returned_at",
    "category", "initial_risk_grade", "risk_grade", "sex", "looked_after", "missing_from",
    "cse_flag", "outcome", "rhi_offered_at", "rhi_completed_at", "extracted_at",
    "child", "dob", "missing", "mis_start", "mis_end",
))
# fmt: on
_REASON = re.compile(r"^\s*(\w+)\s*:\s*(\w+)?")


def _reason_label(reason: str) -> str:
    match = _REASON.match(reason)
    if not match:
        return "other"
    known = (match[2] or "").lower() in KNOWN_COLUMNS
    return f"{match[1]}: {match[2]}" if known else match[1]


def data_quality(con: Con, month: str) -> dict[str, Any]:
    """Page 6: files and rows received (all time), quarantine reasons, findings, how the
    month's categories were decided and under which regime, and the latest run."""
    files = fetch(
        con,
        """SELECT status, count(*) AS files, coalesce(sum(COLUMNS('^rows_')), 0)::BIGINT
           FROM ingest_files GROUP BY status""",
    ).set_index("status")
    reasons = fetch(
        con,
        """SELECT reason, count(*) AS n FROM (
               SELECT trim(unnest(string_split(reasons, ';'))) AS reason FROM quarantine
           ) GROUP BY reason""",
    )
    reasons["label"] = [_reason_label(r) for r in reasons["reason"]]
    reason_counts = reasons[reasons["reason"] != ""].groupby("label")["n"].sum()
    findings = fetch(con, "SELECT severity, count(*) AS n FROM findings GROUP BY severity")
    run = fetch(
        con,
        """SELECT status, strftime(as_of, '%Y-%m-%d') AS as_of FROM runs
           ORDER BY status = 'published' DESC, started_at DESC NULLS LAST LIMIT 1""",
    )
    basis = ["recorded", "risk_grade", "escalated", "derived", "none"]
    return {
        "files": files.reindex(["loaded", "duplicate", "rejected"]).fillna(0).astype("int64"),
        "reasons": reason_counts.sort_values(ascending=False, kind="stable"),
        "findings": findings.set_index("severity")["n"].reindex(["error", "warning"]).fillna(0),
        "regimes": _crosstab(con, month, "source", "coalesce(regime, 'none (SSDA903)')", None),
        "basis": _counts(con, month, "coalesce(category_basis, 'none')", basis),
        "run": run.iloc[0].to_dict() if len(run) else {},
    }
