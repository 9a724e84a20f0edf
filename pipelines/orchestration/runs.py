"""The `runs` table: one row per nightly run, in the working store and the published copy."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from pipelines.db import connect, private_files
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
    con = connect(db) if published_copy else open_work(db)
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
