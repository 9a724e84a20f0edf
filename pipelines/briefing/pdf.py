"""The eight pages of the monthly briefing, laid out on A4 with matplotlib.

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

from pipelines.briefing import agencies, charts, headline
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
    reason_words,
    source_words,
)
from pipelines.briefing.suppression import (
    MARKS,
    SUPPRESSED,
    TOTAL,
    as_numbers,
    format_count,
    format_rate,
    format_share,
    hide_small,
    merge_small,
    suppress_counts,
)
from pipelines.settings import BRIEFING_MARKING

LABELS = CATEGORIES
SHORT = {**LABELS, "away": "Away"}
COUNT = "Episodes (count)"
Data = dict[str, Any]


def merged_lines(numbers: pd.DataFrame) -> dict[str, pd.Series]:
    """A line per category for the chart; categories hidden in more than half the months are
    drawn as one line, named for them, rather than as lines of gaps. The merged line is the
    episodes less the other categories, all printed in the table below, so it shows nothing
    the table does not; it is a gap wherever one of them is hidden."""
    categories = [c for c in numbers.columns if c != TOTAL]
    vanish = [c for c in categories if numbers[c].isna().sum() * 2 > len(numbers)]
    if len(vanish) < 2:
        return {LABELS[c]: numbers[c] for c in categories}
    kept = [c for c in categories if c not in vanish]
    merged = numbers[TOTAL] - numbers[kept].sum(axis=1, min_count=0)
    merged[numbers[[TOTAL, *kept]].isna().any(axis=1)] = float("nan")
    merged = hide_small(merged)  # small sums are implied by the table, but not drawn
    name = f"Other (merged: {', '.join(LABELS[c] for c in vanish)})"
    return {**{LABELS[c]: numbers[c] for c in kept}, name: merged}


def trends_page(fig: Figure, month: str, data: Data) -> None:
    rows = data["trends"]
    shown = headline.categories(rows)
    numbers = as_numbers(shown)
    x = [month_name(m, short=True) for m in rows.index]
    by_category = merged_lines(numbers)
    labels = {"title": "Episodes by category", "ylabel": COUNT, "xlabel": "Month reported"}
    charts.line_chart(fig, (0.1, 0.73, 0.84, 0.18), x, by_category, **labels)
    both = {"Episodes": numbers[TOTAL], "Children": hide_small(rows["children"])}
    labels |= {"title": "Episodes and the children they involve", "ylabel": "Count"}
    charts.line_chart(fig, (0.1, 0.44, 0.84, 0.16), x, both, **labels)
    table = shown.rename(columns={**SHORT, TOTAL: "Episodes"})
    table["Children"] = rows["children"].map(format_count)
    table.index = [month_name(m) for m in rows.index]
    charts.table(fig, (0.06, 0.08, 0.88, 0.27), table, index_label="Month", first=0.2)
    gap = (
        "A hidden month (c) is bridged by a dotted line, with no marker, and marked c on the "
        "axis. Categories hidden in most months are drawn as one line, named for them."
    )
    charts.note(fig, f"Episodes reported in each month. {gap} " + MARKS)


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
    # The 12 months' episodes give back any month the trends table hides: then no counts.
    year = headline.categories(data["trends"]).iloc[-12:]
    hidden = (year[TOTAL] == SUPPRESSED).any()
    share = format_rate(conc["top_episodes"], conc["episodes"])
    share = SUPPRESSED if hidden else share
    text = (
        f"In the 12 months to the end of {month_name(month)}, the tenth of children with "
        f"the most episodes ({format_count(conc['top_children'])} children) accounted for {share} "
        "of the episodes reported. A small group going missing again and again needs a "
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
    place = suppress_counts(merge_small(who["place"], PLACES), True, row_totals=False)
    place.index = plain(place.index, PLACES)
    title = "Place missing from"
    charts.table(fig, (0.66, 0.74, 0.28, 0.16), place, title, index_label="Place", first=0.55)
    labels = {"title": "Episodes by age", "xlabel": COUNT, "ylabel": "Age at start (years)"}
    charts.bar_chart(fig, (0.17, 0.47, 0.33, 0.19), as_numbers(age).iloc[:-1, [-1]], True, **labels)
    labels = {"title": "Place missing from", "xlabel": COUNT, "ylabel": ""}
    charts.bar_chart(fig, (0.66, 0.47, 0.28, 0.19), as_numbers(place).drop(TOTAL), True, **labels)
    labels = {"title": "When episodes were reported: day of week by time of day"}
    labels["xlabel"] = "Time reported (4-hour bands, UK clock time as recorded)"
    labels["ylabel"] = "Day of week reported"
    when = suppress_counts(who["when"], True).rename(columns={q.NO_TIME_BAND: "No time\nrecorded"})
    charts.heatmap(fig, (0.12, 0.12, 0.82, 0.27), when, **labels)
    note = f"Episodes reported in {month_name(month)}. Darker is more. No time recorded: the "
    note += "council's SSDA903 return gives dates only, and a police report with a date and no "
    note += "time is counted there, not at 00:00. "
    charts.note(fig, note + MARKS)


def duration_tables(dur: Data) -> dict[str, pd.DataFrame]:
    """Durations, outcomes and risk grades as printed (codes as the index), small categories
    merged under a stated label."""
    words = {"durations": DURATIONS, "outcomes": OUTCOMES, "risk": RISK_GRADES}
    return {
        key: suppress_counts(merge_small(dur[key], w), True, row_totals=False)
        for key, w in words.items()
    }


def durations_page(fig: Figure, month: str, data: Data) -> None:
    dur = data["durations"]
    panels = [
        (0.71, "durations", "How long episodes lasted", "Duration (band)", DURATIONS),
        (0.4, "outcomes", "How episodes ended", "Outcome", OUTCOMES),
        (0.11, "risk", "Highest risk grade during the episode", "Risk grade", RISK_GRADES),
    ]
    tables = duration_tables(dur)
    for top, key, title, label, words in panels:
        shown = tables[key]
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
RUN_STATUS = {"published": "published", "failed": "failed", "running": "still running"}
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
    reasons.index = [reason_words(r) for r in reasons.index]
    errors, warnings = (format_count(dq["findings"][s]) for s in ("error", "warning"))
    title = f"Findings: {errors} errors, {warnings} warnings"
    label = "Top quarantine reasons"
    charts.table(fig, (0.62, 0.78, 0.32, 0.12), reasons, title, index_label=label, first=0.82)
    basis = suppress_counts(dq["basis"], True, row_totals=False)
    counts = [*dq["basis"]["Episodes"], dq["basis"]["Episodes"].sum()]
    shares = zip(basis["Episodes"], counts, strict=True)
    total = cast(str, basis.loc[TOTAL, "Episodes"])
    basis["Share"] = [format_share(s, n, counts[-1], shown_den=total) for s, n in shares]
    # The count and the total it is a share of are printed in the same row and column.
    title = "How the month's categories were decided"
    shown_basis = basis.set_axis(plain(basis.index, CATEGORY_BASIS))
    charts.table(fig, (0.06, 0.55, 0.38, 0.16), shown_basis, title, index_label="Decided by")
    regimes = dq["regimes"]
    order = [c for c in REGIMES if c in regimes.columns]
    regimes = regimes[order + [c for c in regimes.columns if c not in order]]
    empty = pd.DataFrame({TOTAL: ["0"]}, index=[TOTAL])
    regimes = suppress_counts(regimes, True) if len(regimes) else empty
    regimes = regimes.rename(columns={**REGIMES, "none (SSDA903)": "None\n(SSDA903)"})
    regimes.index = [source_words(s) for s in regimes.index]
    title = "Episodes by source and regime in force"
    charts.table(fig, (0.5, 0.55, 0.44, 0.16), regimes, title, index_label="Source", first=0.3)
    this, shown = data["headline"].loc[month], headline.categories(data["headline"]).loc[month]
    # Suppressed tables hold text: the stubs type a cell as any scalar.
    shown_undetermined = cast(str, shown["undetermined"])
    undetermined = format_share(
        shown_undetermined,
        this["undetermined"],
        this["episodes"],
        shown_den=cast(str, shown[TOTAL]),
    )
    if undetermined not in (SUPPRESSED, "z"):
        undetermined += f" ({shown_undetermined} of {shown[TOTAL]})"
    derived, run = cast(str, basis.loc["derived", "Share"]), dq["run"]
    if derived not in (SUPPRESSED, "z"):
        derived += f" ({cast(str, basis.loc['derived', 'Episodes'])} of {total})"
    facts = (
        f"The month's data\nUndetermined: {undetermined} of the episodes reported in "
        f"{month_name(month)}. Category derived by the pipeline (none recorded): {derived}. "
        f"Latest run: {RUN_STATUS.get(run.get('status', ''), 'none recorded')}, data as of "
        f"{run.get('as_of', 'unknown')}. Quarantined rows stay in the private working store "
        "for correction at source; their reasons are shown by check and column only. Files "
        "and findings are counted over all time; everything else on this page is the month's "
        "episodes."
    )
    charts.text_block(fig, (0.06, 0.06, 0.88, 0.43), facts + "\n\n" + DEFINITIONS)


PAGES = [
    ("Key messages", headline.messages_page),
    ("Headline", headline.headline_page),
    ("Trends over 13 months", trends_page),
    ("Repeat missing", repeat_page),
    ("Who, and when", who_page),
    ("Durations, outcomes and risk", durations_page),
    ("Across agencies", agencies.page),
    ("Data quality, provenance and definitions", quality_page),
]


def render(
    data: Data,
    month: str,
    path: Path,
    banner: str = "",
    *,
    marking: str = BRIEFING_MARKING,
    synthetic: bool = False,
) -> None:
    """Write the eight pages to ``path``; no date or random id reaches the file. ``banner``
    (say, that the figures are provisional) heads every page, as do the protective
    ``marking`` (footing it too) and, when ``synthetic``, SYNTHETIC DATA."""
    data = data | {"durations_shown": duration_tables(data["durations"])["durations"]}
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
        _write_pages(data, month, path, running, (banner, marking, synthetic), metadata)
    finally:
        fonts.setLevel(level)


def _write_pages(
    data: Data,
    month: str,
    path: Path,
    running: str,
    furniture: tuple[str, str, bool],
    metadata: dict,
) -> None:
    banner, marking, synthetic = furniture
    with matplotlib.rc_context():
        matplotlib.rcdefaults()  # a local matplotlibrc must not change the bytes
        matplotlib.rcParams.update(charts.STYLE)
        with PdfPages(path, metadata=metadata) as pdf:
            for number, (heading, draw) in enumerate(PAGES, start=1):
                fig = charts.page(
                    running,
                    month,
                    number,
                    len(PAGES),
                    heading,
                    banner,
                    marking=marking,
                    synthetic=synthetic,
                )
                draw(fig, month, data)
                pdf.savefig(fig)
