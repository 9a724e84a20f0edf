"""The monthly briefing: an eight-page PDF for the safeguarding partnership's board.

``write_briefing`` reads the curated database (read-only), computes the month's figures,
applies disclosure control and writes ``whereabouts-briefing-YYYY-MM.pdf``. The same data
gives the same bytes, so a briefing can be checked against a re-run. It refuses a month with
no episodes, and a month not yet over (by today or by the data's as-of date) unless asked
for a provisional briefing, which says so on every page.
May import only the ground floor: it reads the published database by its table names.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb

from pipelines.briefing import agencies, queries
from pipelines.briefing.pdf import render
from pipelines.db import connect
from pipelines.errors import MissingInput, UsageError
from pipelines.settings import BRIEFING_MARKING

__all__ = ["PROVISIONAL", "check_month", "write_briefing"]

PROVISIONAL = "PROVISIONAL: the month is not over"


def check_month(
    db_path: Path, month: str, *, allow_partial: bool = False, today: date | None = None
) -> bool:
    """Whether a briefing for ``month`` would be provisional; a UsageError (one line) when it
    cannot be written at all. The command line asks this before it starts the flow, so a
    refusal is one line and never a failed flow run."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise MissingInput(f"no curated database at {db_path}")
    con = connect(db_path, read_only=True)
    try:
        return _month_status(con, month, allow_partial, today or date.today())
    finally:
        con.close()


def _month_status(
    con: duckdb.DuckDBPyConnection, month: str, allow_partial: bool, today: date
) -> bool:
    last_day = queries.parse_month(queries.shift_month(month, 1)).date() - timedelta(days=1)
    as_of = queries.data_as_of(con)
    not_over = today <= last_day or as_of is None or as_of < last_day
    if not_over and not allow_partial:
        data_date = as_of.isoformat() if as_of else "unrecorded"
        raise UsageError(
            f"{month} is not over (today {today.isoformat()}, data as of {data_date}): "
            "a briefing now would be partial; use --allow-partial for a provisional one"
        )
    if not queries.episodes_in(con, month):
        raise UsageError(f"no episodes reported in {month}: there is nothing to brief on")
    return not_over


def write_briefing(
    db_path: Path,
    month: str,
    out_dir: Path,
    *,
    allow_partial: bool = False,
    today: date | None = None,
    marking: str = BRIEFING_MARKING,
) -> Path:
    """Write the briefing for ``month`` (``YYYY-MM``) into ``out_dir``; return its path.

    A month with no episodes is refused (UsageError), and so is one not over by ``today``
    (default: the date now) or by the database's as-of date, unless ``allow_partial``: then
    every page is headed ``PROVISIONAL``. Every page is headed and footed with the
    protective ``marking``, and with SYNTHETIC DATA when the database holds the demo's data
    (``queries.synthetic_data``).
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        raise MissingInput(f"no curated database at {db_path}")
    con = connect(db_path, read_only=True)
    try:
        not_over = _month_status(con, month, allow_partial, today or date.today())
        data = {
            "headline": queries.headline(con, month),
            "trends": queries.trends(con, month),
            "repeat": queries.repeat_missing(con, month),
            "who": queries.who_and_when(con, month),
            "durations": queries.durations_and_outcomes(con, month),
            "quality": queries.data_quality(con, month),
            "agencies": agencies.figures(con, month),
        }
        synthetic = queries.synthetic_data(con)
    finally:
        con.close()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"whereabouts-briefing-{month}.pdf"
    # Written aside and renamed, so a reader never opens half a briefing.
    partial = path.with_name(path.name + ".partial")
    banner = PROVISIONAL if not_over else ""
    render(data, month, partial, banner=banner, marking=marking, synthetic=synthetic)
    partial.replace(path)
    return path
