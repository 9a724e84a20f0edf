"""The monthly briefing: a six-page PDF for the safeguarding partnership's board.

``write_briefing`` reads the curated database (read-only), computes the month's figures,
applies disclosure control and writes ``whereabouts-briefing-YYYY-MM.pdf``. The same data
gives the same bytes, so a briefing can be checked against a re-run.
May import only the ground floor: it reads the published database by its table names.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.briefing import queries
from pipelines.briefing.pdf import render
from pipelines.db import connect
from pipelines.errors import MissingInput

__all__ = ["write_briefing"]


def write_briefing(db_path: Path, month: str, out_dir: Path) -> Path:
    """Write the briefing for ``month`` (``YYYY-MM``) into ``out_dir``; return its path."""
    queries.parse_month(month)
    db_path = Path(db_path)
    if not db_path.is_file():
        raise MissingInput(f"no curated database at {db_path}")
    con = connect(db_path, read_only=True)
    try:
        data = {
            "headline": queries.headline(con, month),
            "trends": queries.trends(con, month),
            "repeat": queries.repeat_missing(con, month),
            "who": queries.who_and_when(con, month),
            "durations": queries.durations_and_outcomes(con, month),
            "quality": queries.data_quality(con, month),
        }
    finally:
        con.close()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"whereabouts-briefing-{month}.pdf"
    # Written aside and renamed, so a reader never opens half a briefing.
    partial = path.with_name(path.name + ".partial")
    render(data, month, partial)
    partial.replace(path)
    return path
