"""The `runs` table: one row per nightly run, in the working store and the published copy."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import duckdb

from pipelines.db import connect, connect_curated, private_files
from pipelines.ingest.working_store import open_work

COUNTS = (
    "status",
    "files_new",
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "rows_out_of_scope",
    "episodes",
    "children",
    "seconds",
    "message",
)


# What a run that never finished says in `runs` (status `killed`) once the next run finds it.
KILLED = "the process ended before the run finished"


def close_unfinished(work_db: Path, db: Path) -> list[str]:
    """Record the end of runs whose process ended before they did (killed, out of memory,
    the machine went down): run under the run lock, so none of them is still going.

    A run the published database records as published got that far (it was killed after the
    rename) and stays published; any other is marked `killed`. Returns the killed runs' ids.
    """
    con = open_work(work_db)
    try:
        unfinished = [
            row[0]
            for row in con.execute(
                "select run_id from runs where finished_at is null and status <> 'killed'"
            ).fetchall()
        ]
        if not unfinished:
            return []
        for run_id, finished_at, seconds in _published_in(db, unfinished):
            con.execute(
                "update runs set status = 'published', finished_at = ?, seconds = ? "
                "where run_id = ?",
                [finished_at, seconds, run_id],
            )
            unfinished.remove(run_id)
        con.execute(
            "update runs set status = 'killed', message = ? where run_id in (select unnest(?))",
            [KILLED, unfinished],
        )
        return unfinished
    finally:
        con.close()


def _published_in(db: Path, run_ids: list[str]) -> list[tuple[str, datetime, float]]:
    """Of these runs, those the published database records as published."""
    if not db.exists():
        return []
    try:
        con = connect(db, read_only=True)
    except duckdb.Error:  # unreadable: the next build replaces it; nothing to learn here
        return []
    try:
        return con.execute(
            "select run_id, finished_at, seconds from runs "
            "where status = 'published' and finished_at is not null "
            "and run_id in (select unnest(?))",
            [run_ids],
        ).fetchall()
    except duckdb.Error:
        return []
    finally:
        con.close()


def start_run(work_db: Path, run_id: str, as_of: date) -> None:
    with private_files():  # the write-ahead log made by this write is private too
        con = open_work(work_db)
        try:
            con.execute(
                "insert into runs (run_id, started_at, status, as_of) values (?, ?, 'running', ?)",
                [run_id, datetime.now().replace(microsecond=0), as_of],
            )
        finally:
            con.close()


class _Counts(Protocol):
    """A run's summary as far as the runs table records it: its id and the COUNTS."""

    run_id: str


def finish_run(db: Path, summary: _Counts, final: bool, published_copy: bool = False) -> None:
    """Record a run's counts (and, when final, its end) in the working or published store."""
    with private_files():  # either store's write-ahead log, made by this write, is private
        _finish_run(db, summary, final, published_copy)


def _finish_run(db: Path, summary: _Counts, final: bool, published_copy: bool) -> None:
    con = connect_curated(db) if published_copy else open_work(db)
    try:
        values = [getattr(summary, c) for c in COUNTS]
        assignments = ", ".join(f"{c} = ?" for c in COUNTS)
        finished = datetime.now().replace(microsecond=0) if final else None
        con.execute(
            f"update runs set {assignments}, finished_at = ? where run_id = ?",
            [*values, finished, summary.run_id],
        )
    finally:
        con.close()
