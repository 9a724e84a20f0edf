"""The "Across agencies" page: one child as police, children's social care and education
record them, where their records disagree, and how well the records were linked.

Figures are aggregate only (no person id, name or reference reaches the page) and every
count goes through ``suppression`` before it is printed or drawn. Windows end with the
briefing month, not with the data's as-of date, so an old month's page reads as it did.
An agency here is a police force, the council's children's social care (its SSDA903 missing
returns: the episodes classified by rule ``ssda903_recorded``) or its education service (children
missing education); ``persons.agency_count`` counts the council once.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from pipelines.briefing import charts, labels
from pipelines.briefing.charts import month_name
from pipelines.briefing.queries import Con, fetch, month_span
from pipelines.briefing.suppression import MARKS, TOTAL, as_numbers, format_count, suppress_counts
from pipelines.settings import RECONCILIATION_TOLERANCE_HOURS

MONTHS = 12
KINDS = list(labels.RECONCILIATION)

# Per linked person, what each kind of agency knew by the end of the month and whether the
# person was active in the month and in the 12 months (an episode reported, or a spell off a
# school roll open, in the window).
_KNOWN = """
WITH records AS (
    SELECT person_id, if(rule = 'ssda903_recorded', 'social_care', 'police') AS kind, source,
           reported_at AS began, reported_at AS ended
    FROM episodes WHERE person_id IS NOT NULL AND reported_at < $end
    UNION ALL
    SELECT person_id, 'education', source, off_roll_on::TIMESTAMP,
           coalesce(resolved_on::TIMESTAMP, $end)
    FROM cme_episodes WHERE person_id IS NOT NULL AND off_roll_on < $end
), per_person AS (
    SELECT person_id,
           count(DISTINCT source) FILTER (WHERE kind = 'police') AS forces,
           bool_or(kind = 'social_care') AS social_care,
           bool_or(kind = 'education') AS education,
           bool_or(ended >= $month_start) AS in_month,
           bool_or(ended >= $year_start) AS in_year
    FROM records GROUP BY person_id
)
SELECT CASE
        WHEN forces > 0 AND social_care AND education THEN 'police_social_care_education'
        WHEN forces > 0 AND social_care THEN 'police_social_care'
        WHEN forces > 0 AND education THEN 'police_education'
        WHEN social_care AND education THEN 'social_care_education'
        ELSE 'police_forces' END AS agencies,
       count(*) FILTER (WHERE in_month) AS in_month,
       count(*) FILTER (WHERE in_year) AS in_year
FROM per_person
WHERE forces + social_care::INT + education::INT > 1
GROUP BY ALL
"""


def _named(con: Con, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """``fetch`` with named ($name) parameters."""
    return con.sql(sql, params=params).to_arrow_table().to_pandas()


def known_to_several(con: Con, month: str) -> pd.DataFrame:
    """Linked children known to more than one agency by the end of ``month``, by the agencies
    that know them: those active in the month and in the 12 months to its end."""
    month_start, end = month_span(month)
    year_start, _ = month_span(month, MONTHS)
    bounds = {"end": end, "month_start": month_start, "year_start": year_start}
    table = _named(con, _KNOWN, bounds).set_index("agencies")
    order = list(labels.AGENCY_GROUPS)
    return table.reindex(order).fillna(0).astype("int64")


def reconciliation(con: Con, month: str) -> pd.DataFrame:
    """Gaps between police and council records, a row per month (12 to ``month``), a column
    per kind."""
    first, last = month_span(month, MONTHS)
    months = [m.strftime("%Y-%m") for m in pd.date_range(first, last, freq="MS", inclusive="left")]
    found = fetch(
        con,
        """SELECT month, kind, count(*) AS n FROM agency_reconciliation
           WHERE month >= ? AND month <= ? GROUP BY ALL""",
        [months[0], months[-1]],
    )
    table = found.pivot_table(index="month", columns="kind", values="n", aggfunc="sum")
    return table.reindex(index=months, columns=KINDS).fillna(0).astype("int64")


def earlier_gaps(con: Con, month: str) -> pd.Series:
    """Gaps by kind before the 12 months to ``month``: since records began."""
    first, _ = month_span(month, MONTHS)
    found = fetch(
        con,
        "SELECT kind, count(*) AS n FROM agency_reconciliation WHERE month < ? GROUP BY ALL",
        [first.strftime("%Y-%m")],
    )
    return found.set_index("kind")["n"].reindex(KINDS).fillna(0).astype("int64")


def missing_education(con: Con, month: str) -> dict[str, Any]:
    """Spells off a school roll begun and resolved in ``month`` and in the 11 months before,
    and the children still off a roll at its end."""
    month_start, end = month_span(month)
    year_start, _ = month_span(month, MONTHS)
    found = _named(
        con,
        """SELECT
               count(*) FILTER (WHERE off_roll_on >= $m AND off_roll_on < $e) AS began_month,
               count(*) FILTER (WHERE off_roll_on >= $y AND off_roll_on < $m) AS began_before,
               count(*) FILTER (WHERE resolved_on >= $m AND resolved_on < $e) AS resolved_month,
               count(*) FILTER (WHERE resolved_on >= $y AND resolved_on < $m) AS resolved_before,
               count(DISTINCT coalesce(person_id, child_id)) FILTER (
                   WHERE off_roll_on < $e AND (resolved_on IS NULL OR resolved_on >= $e)
               ) AS still_off
           FROM cme_episodes""",
        # DATE columns against the month's bounds as dates.
        {"m": month_start.date(), "e": end.date(), "y": year_start.date()},
    ).iloc[0]
    spells = pd.DataFrame(
        {
            "month": [found["began_month"], found["resolved_month"]],
            "before": [found["began_before"], found["resolved_before"]],
        },
        index=["began", "resolved"],
    ).astype("int64")
    return {"spells": spells, "still_off": int(found["still_off"])}


def episode_bands(con: Con, month: str) -> pd.Series:
    """Linked children by their episodes (every agency, away excluded, as ``person_repeat``
    counts them) in the 12 months to the end of ``month``, in its bands."""
    found = fetch(
        con,
        """WITH counted AS (
               SELECT person_id, count(*) AS n FROM episodes
               WHERE person_id IS NOT NULL AND category <> 'away'
                 AND reported_at >= ? AND reported_at < ?
               GROUP BY person_id
           )
           SELECT CASE WHEN n <= 5 THEN n::VARCHAR WHEN n <= 10 THEN '6-10'
                       WHEN n <= 20 THEN '11-20' WHEN n <= 50 THEN '21-50'
                       ELSE 'over 50' END AS band, count(*) AS children
           FROM counted GROUP BY band""",
        list(month_span(month, MONTHS)),
    ).set_index("band")["children"]
    return found.reindex(labels.EPISODE_BANDS).fillna(0).astype("int64")


def linkage(con: Con) -> dict[str, Any]:
    """The latest linkage run (the one behind this database's person ids): its counts and,
    where the run had a truth file, overall precision and recall."""
    found = fetch(
        con,
        """WITH latest AS (
               SELECT run_id FROM linkage_quality
               ORDER BY measured_at DESC, run_id DESC LIMIT 1
           )
           SELECT measure, breakdown, value FROM linkage_quality
           WHERE run_id IN (SELECT run_id FROM latest)
             AND (breakdown = 'all' OR measure = 'links')""",
    )
    overall = {m: v for m, b, v in found.itertuples(index=False) if b == "all"}
    links = found[found["measure"] == "links"].set_index("breakdown")["value"]
    order = [r for r in labels.LINK_RULES if r in links.index]
    order += sorted(set(links.index) - set(order))
    return {"overall": overall, "links": links.reindex(order).astype("int64")}


def figures(con: Con, month: str) -> dict[str, Any]:
    """Everything the page prints, as raw counts."""
    return {
        "known": known_to_several(con, month),
        "gaps": reconciliation(con, month),
        "gaps_earlier": earlier_gaps(con, month),
        "cme": missing_education(con, month),
        "bands": episode_bands(con, month),
        "linkage": linkage(con),
    }


def _known_table(fig: Figure, month: str, known: pd.DataFrame) -> None:
    """Children known to more than one agency, by the agencies that know them."""
    shown = suppress_counts(known, True, row_totals=False)
    shown.index = labels.plain(shown.index, labels.AGENCY_GROUPS)
    shown.columns = [f"In {month_name(month, short=True)}", "In 12 months"]
    title = "Children known to more than one agency"
    rect = (0.06, 0.745, 0.54, 0.125)
    charts.table(fig, rect, shown, title, index_label="Known to", first=0.58)


def _education_table(fig: Figure, month: str, cme: dict[str, Any]) -> None:
    """Spells off a school roll begun and resolved, and the children still off at the end."""
    shown = suppress_counts(cme["spells"], True, column_totals=False)
    shown.index = ["Began", "Resolved"]
    shown.columns = [month_name(month, short=True), "11 months\nbefore", "12\nmonths"]
    title = "Children missing education (spells)"
    rect = (0.62, 0.8, 0.32, 0.07)
    charts.table(fig, rect, shown, title, index_label="Off roll", first=0.22, size=7)
    still = f"Children still off a school roll\nat the end of {month_name(month)}"
    fig.text(0.62, 0.785, still, fontsize=7.5, va="top")
    fig.text(0.94, 0.785, format_count(cme["still_off"]), fontsize=7.5, va="top", ha="right")


ALL_TIME = "Since records began"


def gap_totals(gaps: pd.DataFrame, earlier: pd.Series) -> pd.DataFrame:
    """Gaps by kind as printed: the month, the 11 months before, the years before them and
    all of them (a total row too). Totals over years stay readable where a month's few gaps
    of a kind are hidden: a demo or a quiet council has only a handful a year."""
    frame = pd.DataFrame(
        {"month": gaps.iloc[-1], "before": gaps.iloc[:-1].sum(), "earlier": earlier}
    ).astype("int64")
    return suppress_counts(frame, True).rename(columns={TOTAL: ALL_TIME})


def _gaps(fig: Figure, month: str, gaps: pd.DataFrame, earlier: pd.Series) -> None:
    """Reconciliation gaps: by kind since records began as bars, then the table by kind."""
    shown = gap_totals(gaps, earlier)
    bars = as_numbers(shown).drop(index=TOTAL)[[ALL_TIME]]
    bars.index = labels.plain(bars.index, labels.RECONCILIATION_SHORT)
    words = {"title": f"Where police and council records disagree, to {month_name(month)}"}
    words |= {"xlabel": "Gaps (count)", "ylabel": ""}
    charts.bar_chart(fig, (0.3, 0.5, 0.64, 0.17), bars, horizontal=True, **words)
    shown.index = labels.plain(shown.index, labels.RECONCILIATION_SHORT)
    shown.columns = [
        month_name(month, short=True),
        "11 months\nbefore",
        "Earlier",
        "Since\nrecords began",
    ]
    title = "Gaps by kind"
    rect = (0.06, 0.32, 0.88, 0.12)
    charts.table(fig, rect, shown, title, index_label="Gap", first=0.5, size=7.5)


def _bands_table(fig: Figure, bands: pd.Series) -> None:
    """Linked children by their episodes in the 12 months, in bands."""
    shown = suppress_counts(bands.to_frame("Children"), True, row_totals=False)
    shown.index = labels.plain(shown.index, labels.EPISODE_BAND_WORDS)
    title = "Children by episodes in 12 months"
    rect = (0.06, 0.115, 0.3, 0.165)
    charts.table(fig, rect, shown, title, index_label="Episodes (all agencies)", first=0.6)


def _linkage_note(fig: Figure, found: dict[str, Any]) -> None:
    """The latest linkage run: pairs linked by rule, then its counts and quality."""
    links, overall = found["links"], found["overall"]
    if not len(links):
        fig.text(0.44, 0.25, "Linkage: no linkage run is recorded.", fontsize=8, va="top")
        return
    shown = suppress_counts(links.to_frame("Pairs"), True, row_totals=False)
    shown.index = labels.plain(shown.index, labels.LINK_RULES)
    title = "How records were linked (latest linkage run)"
    rect = (0.44, 0.16, 0.5, 0.12)
    charts.table(fig, rect, shown, title, index_label="Record pairs linked by", first=0.75)
    counts = [
        f"Records: {format_count(overall.get('records'))}",
        f"children (persons): {format_count(overall.get('persons'))}",
        f"pairs awaiting review: {format_count(overall.get('review_backlog'))}.",
    ]
    measured = [
        f"{name} {overall[measure] * 100:.2f}%"
        for name, measure in (("precision", "precision"), ("recall", "recall"))
        if overall.get(measure) is not None and not pd.isna(overall[measure])
    ]
    lines = ["; ".join(counts)]
    if measured:
        lines.append("Pairs measured against known truth: " + ", ".join(measured) + ".")
    for k, line in enumerate(lines):
        fig.text(0.44, 0.145 - k * 0.014, line, fontsize=7.5, va="top")


HOURS = RECONCILIATION_TOLERANCE_HOURS
NOTES = (
    "An agency is a police force, the council's children's social care (SSDA903 missing "
    "returns) or its education service (children missing education). A child counts in a "
    "period when an episode was reported or a spell off a school roll was open in it; the "
    "agencies are those with a record of the child by the month's end. Gaps count by the month "
    f"the episode started: council missing with no police report within {HOURS} hours, police "
    f"missing of a looked-after child with no council episode within {HOURS} hours, and children "
    "police flagged looked after whom no council record names. The council's SSDA903 return "
    "arrives yearly, so the current year's police episodes show as gaps until it does. "
)


def page(fig: Figure, month: str, data: dict[str, Any]) -> None:
    """The "Across agencies" page."""
    found = data["agencies"]
    intro = (
        "Each child as police, children's social care and education record them, linked "
        f"without names. Periods end with {month_name(month)}."
    )
    fig.text(0.06, 0.905, intro)
    _known_table(fig, month, found["known"])
    _education_table(fig, month, found["cme"])
    _gaps(fig, month, found["gaps"], found["gaps_earlier"])
    _bands_table(fig, found["bands"])
    _linkage_note(fig, found["linkage"])
    charts.note(fig, NOTES + MARKS, bottom=0.03)
