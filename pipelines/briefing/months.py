"""Calendar months as the briefing names them."""

from __future__ import annotations

from datetime import date, timedelta


def previous_month(today: date) -> str:
    """The month before `today`'s, as YYYY-MM."""
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
