"""The briefing's first two pages: key messages, and the headline figures with their change
on last month and on the same month last year.

Every figure is printed as ``suppression`` shows it; a change is hidden when either of the
figures it compares is, and a percentage carries its numerator and denominator or is hidden
whole. The key messages are written from these printed strings (``messages``).
"""

from __future__ import annotations

import textwrap
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from pipelines.briefing import agencies, charts, messages
from pipelines.briefing import queries as q
from pipelines.briefing.charts import month_name
from pipelines.briefing.labels import CATEGORIES, RECONCILIATION, plain
from pipelines.briefing.suppression import (
    MARKS,
    SUPPRESSED,
    TOTAL,
    as_numbers,
    format_change,
    format_count,
    format_rate,
    suppress_counts,
)

COUNT = "Episodes (count)"
FOUND = "Found within 24 hours"
RHI = "Returns offered an RHI within 72 hours"
Data = dict[str, Any]


def categories(rows: pd.DataFrame) -> pd.DataFrame:
    """Episodes by category, a line per month, ``Total`` = episodes. No column totals are
    published, so a month's cells are hidden the same way wherever that month is printed."""
    columns = [*q.CATEGORIES, *(["other"] if rows["other"].any() else [])]
    return suppress_counts(rows[columns], True, column_totals=False)


def _found(rows: pd.DataFrame, month: str, durations: pd.DataFrame | None) -> list[str]:
    """Found within 24 hours, per month. Episodes less those ended are the open ones, and the
    ended ones found within 24 hours are the month's first duration band: hidden with them."""
    cells = []
    for m, r in rows.iterrows():
        also = [r["episodes"] - r["returned"]]
        text = format_rate(r["found_24h"], r["returned"], also=also)
        if m == month and durations is not None:
            hidden = [
                durations.loc[b, "Episodes"] for b in ("<24h", "open") if b in durations.index
            ]
            if len(hidden) < 2 or SUPPRESSED in hidden:
                text = SUPPRESSED if text != "z" else text
        cells.append(text)
    return cells


def table(data: Data, month: str, durations: pd.DataFrame | None = None) -> pd.DataFrame:
    """The headline table as printed: a row per measure; this month, last month, the same
    month last year, then the two changes."""
    rows = data["headline"]
    shown = categories(rows)
    frame = pd.DataFrame(
        {
            "Episodes reported": shown[TOTAL],
            **{f"   {CATEGORIES[c]}": shown[c] for c in shown.columns if c != TOTAL},
            "Children reported": rows["children"].map(format_count),
            "Children in the 3-in-90-days cohort": rows["cohort_children"].map(format_count),
            FOUND: _found(rows, month, durations),
            RHI: list(map(format_rate, rows["rhi_within_72h"], rows["rhi_returns"])),
        }
    ).T
    frame.columns = [month_name(m) for m in rows.index]
    now, last, year = frame.columns
    unit = [" pts" if i in (FOUND, RHI) else "" for i in frame.index]
    frame["On last\nmonth"] = [
        format_change(a, b, u) for a, b, u in zip(frame[now], frame[last], unit, strict=True)
    ]
    frame["On a year\nbefore"] = [
        format_change(a, b, u) for a, b, u in zip(frame[now], frame[year], unit, strict=True)
    ]
    return frame


def printed(data: Data, month: str, durations: pd.DataFrame | None = None) -> messages.Printed:
    """The figures the key-message rules read, exactly as the pages print them."""
    frame = table(data, month, durations)
    now, last, year = frame.columns[:3]
    counts = {
        i.strip(): (frame.loc[i, now], frame.loc[i, last], frame.loc[i, year])
        for i in frame.index
        if i not in (FOUND, RHI)
    }
    entrants = data["repeat"]["entrants"]["3_in_90_days"]
    gaps = agencies.gap_totals(data["agencies"]["gaps"], data["agencies"]["gaps_earlier"])
    return messages.Printed(
        month=now,
        last_month=last,
        year_ago=year,
        counts=counts,
        entrants=(
            format_count(entrants.loc[month]),
            format_count(entrants.loc[q.shift_month(month, -1)]),
        ),
        rhi=(str(frame.loc[RHI, now]), str(frame.loc[RHI, last])),
        found=str(frame.loc[FOUND, now]),
        gaps=dict(zip(plain(gaps.index, RECONCILIATION), gaps[agencies.ALL_TIME], strict=True)),
    )


def messages_page(fig: Figure, month: str, data: Data) -> None:
    """Page 1: three to five key messages, and how they were chosen."""
    written = messages.key_messages(printed(data, month, data.get("durations_shown")))
    fig.text(0.06, 0.905, f"Briefing for {month_name(month)} ({month})", fontsize=12)
    y = 0.86
    for n, text in enumerate(written, start=1):
        lines = textwrap.wrap(text, 78)
        fig.text(0.06, y, f"{n}.", fontsize=12, weight="bold", va="baseline")
        for k, line in enumerate(lines):
            fig.text(0.1, y - k * 0.022, line, fontsize=12, va="baseline")
        y -= 0.022 * len(lines) + 0.025
    how = """
        How these messages are written
        Each message comes from a figure printed later in this briefing, by a fixed rule
        (docs/briefing.md): the largest change on last month among the headline counts;
        episodes against the same month last year; children newly in the 3-in-90-days
        cohort; return home interviews offered within 72 hours; gaps between police and
        council records; and, when fewer than five of those can be written, episodes found
        within 24 hours. A rule whose figure is hidden (c) says nothing. The messages state
        figures and their direction only: they do not say why a figure changed.
    """
    charts.text_block(fig, (0.06, 0.2, 0.88, 0.14), how)


def headline_page(fig: Figure, month: str, data: Data) -> None:
    """Page 2: the month against last month and the same month last year."""
    frame = table(data, month, data.get("durations_shown"))
    as_of = data["quality"]["run"].get("as_of") or "an unrecorded date"
    fig.text(0.06, 0.905, f"Briefing for {month_name(month)} ({month})", fontsize=12)
    source = f"From the curated database as of {as_of}. Episodes count in the month reported."
    fig.text(0.06, 0.885, source)
    title = "This month, the month before and the same month last year, and the change"
    rect = (0.06, 0.56, 0.88, 0.29)
    charts.table(fig, rect, frame, title, index_label="Measure", first=0.3, size=8)
    bars = as_numbers(categories(data["headline"]).drop(columns=TOTAL)).T
    bars = bars.rename(index={**CATEGORIES, "away": "Away"})
    bars.columns = frame.columns[:3]
    labels = {"title": "Episodes by category", "xlabel": "Category", "ylabel": COUNT}
    charts.bar_chart(fig, (0.1, 0.34, 0.84, 0.17), bars, horizontal=False, **labels)
    notes = f"""
        How to read this page
        {MARKS} A change is hidden (c) when either figure it compares is; percentages change
        in percentage points (pts).

        Categories
        Every episode is missing, absent, away from placement or undetermined; the categories
        add up to the episodes reported (definitions on the last page).

        Children
        Different children reported at least once in the month. A child in the 3-in-90-days
        cohort was reported in the month and had, by its end, had three episodes (other than
        away) within 90 days.

        Percentages, with the counts behind them
        Found within 24 hours: of the month's episodes that have ended, shown as the share
        (found of ended). RHI: of children's returns in the month, those offered a return home
        interview within 72 hours, as statutory guidance requires (offered of returns).
    """
    charts.text_block(fig, (0.06, 0.04, 0.88, 0.25), notes)
