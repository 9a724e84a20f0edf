"""Key messages for the briefing's first page, written from the printed figures by rules.

Each rule is a plain function of figures exactly as the briefing prints them (strings that
have been through ``suppression``), so a message can never quote a hidden figure: a rule
whose figures are hidden (``c``) or not applicable (``z``) says nothing. Messages state
figures and their direction only; they never give a cause. The rules, in the order tried:

1. largest_change: of the headline counts, the one that changed most on last month (both
   months printed; ties go to the first in the table; no message when none changed).
2. year_on_year: episodes reported against the same month last year.
3. new_to_cohort: children who newly entered the 3-in-90-days repeat cohort this month,
   with last month's figure when printed.
4. rhi_timeliness: the share of returns offered a return home interview within 72 hours,
   with its numerator and denominator, and the change on last month in points.
5. cross_agency_gaps: gaps between police and council records since records began, and
   the most common kind.
6. found_within_24h: the share of ended episodes found within 24 hours (a fallback, used
   only when fewer than five of the above could be written).

The page shows the first five that could be written (at least three in any month with
episodes printed: rules 1, 2 and 6 need only the headline table).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pipelines.briefing.suppression import NOT_APPLICABLE, ROUNDS_TO_ZERO, SUPPRESSED

HIDDEN = (SUPPRESSED, NOT_APPLICABLE, ROUNDS_TO_ZERO, "")
MOST = 5


@dataclass(frozen=True)
class Printed:
    """The figures the rules read, as printed. Month names are in words."""

    month: str
    last_month: str
    year_ago: str
    # measure -> (this month, last month, same month last year), e.g. "Episodes reported"
    counts: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
    entrants: tuple[str, str] = ("", "")  # new to the cohort: this month, last month
    rhi: tuple[str, str] = ("", "")  # "62% (124 of 200)": this month, last month
    found: str = ""  # "79% (300 of 380)" this month
    gaps: Mapping[str, str] = field(default_factory=dict)  # kind -> all time; "Total" too


def _number(text: str) -> int | None:
    """A printed count as a number; None when it is hidden or not applicable."""
    if text in HIDDEN:
        return None
    return int(text.split(" ")[0].rstrip("%").replace(",", ""))


def _signed(n: int) -> str:
    return f"{n:+,}" if n else "no change"


def largest_change(p: Printed) -> str | None:
    """The headline count that changed most on last month."""
    best: tuple[int, str, int, int] | None = None
    for name, (now, then, _) in p.counts.items():
        a, b = _number(now), _number(then)
        if a is None or b is None or a == b:
            continue
        if best is None or abs(a - b) > abs(best[0]):
            best = (a - b, name, a, b)
    if best is None:
        return None
    change, name, a, b = best
    way = "rose" if change > 0 else "fell"
    return (
        f"{name} {way} from {b:,} in {p.last_month} to {a:,} in {p.month} ({_signed(change)}), "
        "the largest change on last month of the headline counts."
    )


def year_on_year(p: Printed) -> str | None:
    """Episodes reported against the same month last year."""
    now, _, then = p.counts.get("Episodes reported", ("", "", ""))
    a, b = _number(now), _number(then)
    if a is None or b is None:
        return None
    return (
        f"{a:,} episodes were reported in {p.month}, against {b:,} in {p.year_ago} "
        f"({_signed(a - b)})."
    )


def new_to_cohort(p: Printed) -> str | None:
    """Children newly in the 3-in-90-days repeat cohort."""
    a, b = _number(p.entrants[0]), _number(p.entrants[1])
    if a is None:
        return None
    before = f" ({b:,} in {p.last_month})" if b is not None else ""
    children = "child" if a == 1 else "children"
    return (
        f"{a:,} {children} newly entered the 3-in-90-days repeat cohort in {p.month}{before}: "
        "three episodes within 90 days."
    )


def rhi_timeliness(p: Printed) -> str | None:
    """Returns offered a return home interview within 72 hours."""
    now, then = p.rhi
    a, b = _number(now), _number(then)
    if a is None:
        return None
    count = now.partition(" ")[2].strip("()")
    change = f", {_signed(a - b)} points on {p.last_month}" if b is not None else ""
    if change.startswith(", no change"):
        change = f", as in {p.last_month}"
    return (
        f"{a}% of children's returns in {p.month} were offered a return home interview within "
        f"72 hours ({count}){change}. Statutory guidance expects every child to be offered one."
    )


def cross_agency_gaps(p: Printed) -> str | None:
    """Where police and council records disagree, since records began."""
    total = _number(p.gaps.get("Total", ""))
    if total is None:
        return None
    if total == 0:
        return f"No gaps between police and council records since records began, to {p.month}."
    kinds = [(n, k) for k, v in p.gaps.items() if k != "Total" and (n := _number(v)) is not None]
    top = max(kinds, key=lambda kind: kind[0], default=None)
    most = ""
    if top is not None and [n for n, _ in kinds].count(top[0]) == 1:
        most = f"; the most common: {top[1][0].lower()}{top[1][1:]} ({top[0]:,})"
    gaps = "gap" if total == 1 else "gaps"
    return (
        f"{total:,} {gaps} between police and council records since records began, to "
        f"{p.month}{most}."
    )


def found_within_24h(p: Printed) -> str | None:
    """Ended episodes found within 24 hours (a fallback)."""
    a = _number(p.found)
    if a is None:
        return None
    count = p.found.partition(" ")[2].strip("()")
    ended = f"{a}% of the episodes reported in {p.month} that have ended"
    return f"{ended} were found within 24 hours ({count})."


RULES: list[Callable[[Printed], str | None]] = [
    largest_change,
    year_on_year,
    new_to_cohort,
    rhi_timeliness,
    cross_agency_gaps,
    found_within_24h,
]


def key_messages(p: Printed) -> list[str]:
    """The first MOST messages the rules could write, in the rules' order."""
    written = [m for rule in RULES if (m := rule(p))]
    return written[:MOST]
