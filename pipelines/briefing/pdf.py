"""The seven pages of the monthly briefing, laid out on A4 with matplotlib.

Every number printed or drawn here has been through ``suppression``; each page says which
episodes it counts. Positions are fractions of the page, fixed so that pages never reflow.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import matplotlib
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from pipelines.briefing import agencies, charts
from pipelines.briefing import queries as q
from pipelines.briefing.charts import month_name
from pipelines.briefing.labels import (
    CATEGORIES,
    CATEGORY_BASIS,
    DURATIONS,
    FILE_STATUS,
    OUTCOMES,
    PLACES,
    RISK_GRADES,
    plain,
)
from pipelines.briefing.suppression import (
    MARKS,
    TOTAL,
    as_numbers,
    format_count,
    format_percent,
    format_share,
    hide_small,
    suppress_counts,
)

LABELS = CATEGORIES
SHORT = {**LABELS, "away": "Away"}
COUNT = "Episodes (count)"
Data = dict[str, Any]


def _categories(rows: pd.DataFrame) -> pd.DataFrame:
    """Episodes by category, a line per month, ``Total`` = episodes. No column totals are
    published, so a month's cells are hidden the same way wherever that month is printed."""
    columns = [*q.CATEGORIES, *(["other"] if rows["other"].any() else [])]
    return suppress_counts(rows[columns], True, column_totals=False)


def headline_page(fig: Figure, month: str, data: Data) -> None:
    rows = data["headline"]
    shown = _categories(rows)
    rates = {
        name: [format_percent(n, d) for n, d in zip(rows[num], rows[den], strict=True)]
        for name, num, den in [
            ("% found within 24 hours (episodes ended)", "found_24h", "returned"),
            ("% of returns offered an RHI within 72 hours", "rhi_within_72h", "rhi_returns"),
        ]
    }
    table = pd.DataFrame(
        {
            "Episodes reported": shown[TOTAL],
            **{f"   {LABELS[c]}": shown[c] for c in shown.columns if c != TOTAL},
            "Children reported": rows["children"].map(format_count),
            "Children in the 3-in-90-days cohort": rows["cohort_children"].map(format_count),
            **rates,
        }
    ).T
    table.columns = [month_name(m) for m in rows.index]
    as_of = data["quality"]["run"].get("as_of") or "an unrecorded date"
    fig.text(0.06, 0.905, f"Briefing for {month_name(month)} ({month})", fontsize=12)
    source = f"From the curated database as of {as_of}. Episodes count in the month reported."
    fig.text(0.06, 0.885, source)
    title = "This month, the month before and the same month last year"
    charts.table(
        fig, (0.06, 0.6, 0.88, 0.25), table, title, index_label="Measure", first=0.43, size=8.5
    )
    bars = as_numbers(shown.drop(columns=TOTAL)).T.rename(index=SHORT)
    bars.columns = table.columns
    labels = {"title": "Episodes by category", "xlabel": "Category", "ylabel": COUNT}
    charts.bar_chart(fig, (0.1, 0.37, 0.84, 0.18), bars, horizontal=False, **labels)
    notes = f"""
        How to read this page
        {MARKS}

        Categories
        Every episode is missing, absent, away from placement or undetermined; the categories
        add up to the episodes reported (definitions on the last page).

        Children
        Different children reported at least once in the month. A child in the 3-in-90-days
        cohort was reported in the month and had, by its end, had three episodes (other than
        away) within 90 days.

        Percentages
        Found within 24 hours: of the month's episodes that have ended. RHI: of children's
        returns in the month, those offered a return home interview within 72 hours, as
        statutory guidance requires.
    """
    charts.text_block(fig, (0.06, 0.06, 0.88, 0.24), notes)


def trends_page(fig: Figure, month: str, data: Data) -> None:
    rows = data["trends"]
    shown = _categories(rows)
    numbers = as_numbers(shown)
    x = [month_name(m, short=True) for m in rows.index]
    by_category = {LABELS[c]: numbers[c] for c in shown.columns if c != TOTAL}
    labels = {"title": "Episodes by category", "ylabel": COUNT, "xlabel": "Month reported"}
    charts.line_chart(fig, (0.1, 0.73, 0.84, 0.18), x, by_category, **labels)
    both = {"Episodes": numbers[TOTAL], "Children": hide_small(rows["children"])}
    labels |= {"title": "Episodes and the children they involve", "ylabel": "Count"}
    charts.line_chart(fig, (0.1, 0.44, 0.84, 0.16), x, both, **labels)
    table = shown.rename(columns={**SHORT, TOTAL: "Episodes"})
    table["Children"] = rows["children"].map(format_count)
    table.index = [month_name(m) for m in rows.index]
    charts.table(fig, (0.06, 0.08, 0.88, 0.27), table, index_label="Month", first=0.2)
    charts.note(fig, "Episodes reported in each month. Gaps in a line are hidden values. " + MARKS)


def repeat_page(fig: Figure, month: str, data: Data) -> None:
    rep = data["repeat"]
    cohort, entrants = rep["cohort"], rep["entrants"]
    series = {
        "In cohort (3 in 90 days)": hide_small(cohort["3_in_90_days"]),
        "In cohort (3 missing in 90 days)": hide_small(cohort["missing_3_in_90_days"]),
        "New entrants (3 in 90 days)": hide_small(entrants["3_in_90_days"]),
    }
    x = [month_name(m, short=True) for m in cohort.index]
    labels = {"title": "Children reported who were in a repeat-missing cohort"}
    labels |= {"ylabel": "Children (count)", "xlabel": "Month reported"}
    charts.line_chart(fig, (0.1, 0.73, 0.84, 0.18), x, series, **labels)
    now = pd.DataFrame(
        {
            "Reported this month": cohort.loc[month].map(format_count),
            "Entered this month": entrants.loc[month].map(format_count),
        }
    ).set_axis(["3 episodes in 90 days (other than away)", "3 missing episodes in 90 days"])
    title = f"Cohorts in {month_name(month)}"
    charts.table(fig, (0.06, 0.54, 0.88, 0.07), now, title, index_label="Cohort", first=0.5)
    per_child = suppress_counts(rep["per_child"].to_frame("Children"), True, row_totals=False)
    labels = {"title": "Episodes per child, 12 months", "ylabel": "Children (count)"}
    labels["xlabel"] = "Episodes in the 12 months (count)"
    per_child_numbers = as_numbers(per_child).drop(TOTAL)
    charts.bar_chart(fig, (0.1, 0.24, 0.45, 0.22), per_child_numbers, horizontal=False, **labels)
    charts.table(fig, (0.64, 0.26, 0.3, 0.2), per_child, index_label="Episodes", first=0.5)
    conc = rep["concentration"]
    share = format_percent(conc["top_episodes"], conc["episodes"])
    text = (
        f"In the 12 months to the end of {month_name(month)}, the tenth of children with "
        f"the most episodes ({format_count(conc['top_children'])} children) accounted for {share} "
        "of all episodes reported. A small group going missing again and again needs a "
        "coordinated, multi-agency plan; the chance of going missing again is highest in the "
        "first weeks after a return."
    )
    charts.text_block(fig, (0.06, 0.06, 0.88, 0.1), f"Concentration\n{text}")


def who_page(fig: Figure, month: str, data: Data) -> None:
    who = data["who"]
    age = suppress_counts(who["age"], True)
    age.columns = ["Looked\nafter", "Not looked\nafter", "Not\nrecorded", TOTAL]
    title = "Episodes by age and looked-after status"
    charts.table(fig, (0.06, 0.74, 0.52, 0.16), age, title, index_label="Age at start", first=0.28)
    place = suppress_counts(who["place"], True, row_totals=False)
    place.index = plain(place.index, PLACES)
    title = "Place missing from"
    charts.table(fig, (0.66, 0.74, 0.28, 0.16), place, title, index_label="Place", first=0.55)
    labels = {"title": "Episodes by age", "xlabel": COUNT, "ylabel": "Age at start (years)"}
    charts.bar_chart(fig, (0.17, 0.47, 0.33, 0.19), as_numbers(age).iloc[:-1, [-1]], True, **labels)
    labels = {"title": "Place missing from", "xlabel": COUNT, "ylabel": "Place"}
    charts.bar_chart(fig, (0.66, 0.47, 0.28, 0.19), as_numbers(place).drop(TOTAL), True, **labels)
    labels = {"title": "When episodes were reported: day of week by time of day"}
    labels["xlabel"] = "Time reported (4-hour bands, UK clock time as recorded)"
    labels["ylabel"] = "Day of week reported"
    charts.heatmap(fig, (0.12, 0.09, 0.82, 0.29), suppress_counts(who["when"], True), **labels)
    when = f"Episodes reported in {month_name(month)}. Darker is more; a report recorded "
    charts.note(fig, when + "without a time of day counts at 00:00. " + MARKS)


def durations_page(fig: Figure, month: str, data: Data) -> None:
    dur = data["durations"]
    panels = [
        (0.71, "durations", "How long episodes lasted", "Duration (band)", DURATIONS),
        (0.4, "outcomes", "How episodes ended", "Outcome", OUTCOMES),
        (0.11, "risk", "Highest risk grade during the episode", "Risk grade", RISK_GRADES),
    ]
    for top, key, title, label, words in panels:
        shown = suppress_counts(dur[key], True, row_totals=False)
        shown.index = plain(shown.index, words)
        labels = {"title": title, "xlabel": COUNT, "ylabel": label}
        charts.bar_chart(fig, (0.2, top, 0.38, 0.17), as_numbers(shown).drop(TOTAL), True, **labels)
        charts.table(fig, (0.66, top, 0.28, 0.17), shown, index_label=label, first=0.6)
    review = f"""Absent decisions needing review: {format_count(dur["needs_review"])}
        Episodes recorded absent although the child was looked after, was in the 3-in-90-days
        cohort or had a sexual-exploitation marker: absent must be a documented, risk-based
        decision, never the default for such a child."""
    charts.text_block(fig, (0.06, 0.58, 0.88, 0.07), review)
    charts.note(fig, f"Episodes reported in {month_name(month)}. " + MARKS)


DEFINITIONS = f"""
    Missing
    Whereabouts cannot be established and the circumstances are out of character or suggest
    a risk of harm (two-tier regime); under the continuum every child whose whereabouts cannot
    be established is missing, graded by risk.

    Absent
    Not where expected or required to be, with no apparent risk: a documented, risk-based
    police decision, escalated to missing if risk rises or time passes.

    Away from placement
    A looked-after child whose whereabouts are known but who is away without authorisation
    (children's services' term). Not the same as absent.

    The three regimes
    Single: one category, missing (before April 2013). Two-tier: missing and absent as
    separate categories (from April 2013, force by force). Continuum: everyone is missing,
    with 'no apparent risk' the lowest risk grade (from January 2017).

    3 in 90 days
    A child enters the cohort at the first episode (other than away) reported within 90 days
    of the episode two before it.

    Suppression
    {MARKS} Zeros are shown.
"""
REGIMES = {"single": "Single", "two_tier": "Two-tier", "continuum": "Continuum"}


def quality_page(fig: Figure, month: str, data: Data) -> None:
    dq = data["quality"]
    files = dq["files"]
    rows = files[["rows_loaded", "rows_quarantined", "rows_out_of_scope"]]
    rows = rows.set_axis(["Loaded", "Quaran-\ntined", "Out of\nscope"], axis=1)
    rows = suppress_counts(rows, True).rename(columns={TOTAL: "Rows\nread"})
    rows.insert(0, "Files", [*files["files"].map(format_count), format_count(files["files"].sum())])
    rows.index = plain(rows.index, FILE_STATUS)
    title = "Files and rows received, all time"
    charts.table(fig, (0.06, 0.78, 0.54, 0.12), rows, title, index_label="File status", first=0.25)
    reasons = dq["reasons"].head(5).map(format_count).to_frame("Rows")
    errors, warnings = (format_count(dq["findings"][s]) for s in ("error", "warning"))
    title = f"Findings: {errors} errors, {warnings} warnings"
    label = "Top quarantine reasons"
    charts.table(fig, (0.66, 0.78, 0.28, 0.12), reasons, title, index_label=label, first=0.75)
    basis = suppress_counts(dq["basis"], True, row_totals=False)
    counts = [*dq["basis"]["Episodes"], dq["basis"]["Episodes"].sum()]
    shares = zip(basis["Episodes"], counts, strict=True)
    total = cast(str, basis.loc[TOTAL, "Episodes"])
    basis["Share"] = [format_share(s, n, counts[-1], shown_den=total) for s, n in shares]
    title = "How the month's categories were decided"
    shown_basis = basis.set_axis(plain(basis.index, CATEGORY_BASIS))
    charts.table(fig, (0.06, 0.55, 0.38, 0.16), shown_basis, title, index_label="Decided by")
    regimes = dq["regimes"]
    order = [c for c in REGIMES if c in regimes.columns]
    regimes = regimes[order + [c for c in regimes.columns if c not in order]]
    empty = pd.DataFrame({TOTAL: ["0"]}, index=[TOTAL])
    regimes = suppress_counts(regimes, True) if len(regimes) else empty
    regimes = regimes.rename(columns={**REGIMES, "none (SSDA903)": "None\n(SSDA903)"})
    title = "Episodes by source and regime in force"
    charts.table(fig, (0.5, 0.55, 0.44, 0.16), regimes, title, index_label="Source", first=0.2)
    this, shown = data["headline"].loc[month], _categories(data["headline"]).loc[month]
    # Suppressed tables hold text: the stubs type a cell as any scalar.
    shown_undetermined = cast(str, shown["undetermined"])
    undetermined = format_share(
        shown_undetermined,
        this["undetermined"],
        this["episodes"],
        shown_den=cast(str, shown[TOTAL]),
    )
    derived, run = cast(str, basis.loc["derived", "Share"]), dq["run"]
    facts = f"""The month's data
        Undetermined: {undetermined} of episodes reported in {month_name(month)}; category
        derived by the pipeline (none recorded): {derived}. Latest run:
        {run.get("status", "none recorded")}, data as of {run.get("as_of", "unknown")}.
        Quarantined rows stay in the private working store for correction at source; their
        reasons are shown by check and column only. Files and findings are counted over all
        time; everything else on this page is the month's episodes."""
    charts.text_block(fig, (0.06, 0.06, 0.88, 0.43), facts + "\n\n" + DEFINITIONS)


PAGES = [
    ("Headline", headline_page),
    ("Trends over 13 months", trends_page),
    ("Repeat missing", repeat_page),
    ("Who, and when", who_page),
    ("Durations, outcomes and risk", durations_page),
    ("Across agencies", agencies.page),
    ("Data quality, provenance and definitions", quality_page),
]


def render(data: Data, month: str, path: Path, banner: str = "") -> None:
    """Write the seven pages to ``path``; no date or random id reaches the file. ``banner``
    (say, that the figures are provisional) heads every page."""
    title = f"Missing and absent children: briefing for {month}"
    metadata: dict[str, str | None] = {
        "Title": title,
        "Creator": "Whereabouts",
        "Producer": "Whereabouts",
    }
    metadata |= {"CreationDate": None, "ModDate": None}
    running = f"Missing and absent children: briefing for {month_name(month)}"
    # Helvetica's metrics name its regular weight "medium"; matplotlib's axis texts ask for
    # "normal" and log a warning per page before taking the same font. Not news for a log.
    fonts = logging.getLogger("matplotlib.font_manager")
    level = fonts.level
    fonts.setLevel(logging.ERROR)
    try:
        _write_pages(data, month, path, running, banner, metadata)
    finally:
        fonts.setLevel(level)


def _write_pages(
    data: Data, month: str, path: Path, running: str, banner: str, metadata: dict
) -> None:
    with matplotlib.rc_context():
        matplotlib.rcdefaults()  # a local matplotlibrc must not change the bytes
        matplotlib.rcParams.update(charts.STYLE)
        with PdfPages(path, metadata=metadata) as pdf:
            for number, (heading, draw) in enumerate(PAGES, start=1):
                fig = charts.page(running, month, number, len(PAGES), heading, banner)
                draw(fig, month, data)
                pdf.savefig(fig)
