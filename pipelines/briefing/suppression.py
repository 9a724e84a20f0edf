"""Disclosure control for published tables, as official statistics practise it.

Marks: ``c`` a count from 1 to ``SUPPRESS_AT_MOST`` (or one hidden so that such a count cannot
be worked out from totals), ``k`` a non-zero percentage that rounds to zero, ``z`` not
applicable. Zeros are shown: a true zero discloses no child.

Pure functions: numbers in, strings out. Nothing here reads the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from pipelines.settings import SUPPRESS_AT_MOST

SUPPRESSED = "c"
ROUNDS_TO_ZERO = "k"
NOT_APPLICABLE = "z"
TOTAL = "Total"
MARKS = (
    f"c: a count from 1 to {SUPPRESS_AT_MOST}, or a value hidden so that one cannot be worked "
    "out from totals. k: a non-zero percentage that rounds to 0. z: not applicable (nothing "
    "to divide by)."
)

Line = Sequence[tuple[int, int]]


def is_small(n: float | None) -> bool:
    """A count that must not be published: 1 to SUPPRESS_AT_MOST."""
    return n is not None and not _missing(n) and 1 <= n <= SUPPRESS_AT_MOST


def format_count(n: float | None) -> str:
    """One count on its own (no totals it could be recovered from): primary suppression only."""
    if n is None or _missing(n):
        return NOT_APPLICABLE
    if is_small(n):
        return SUPPRESSED
    return f"{int(n):,}"


def format_percent(
    num: float | None,
    den: float | None,
    decimals: int = 0,
    *,
    sign: bool = True,
    protect_complement: bool = True,
) -> str:
    """``num`` as a percentage of ``den``, with the marks applied.

    A percentage and its base together reveal the numerator, so a small numerator or base is
    ``c``. With ``protect_complement`` a small remainder (``den - num``) is ``c`` too: "98% of
    100" names the 2 children the figure leaves out as surely as printing 2.
    """
    if num is None or den is None or _missing(num) or _missing(den) or den <= 0:
        return NOT_APPLICABLE
    if is_small(num) or is_small(den) or (protect_complement and is_small(den - num)):
        return SUPPRESSED
    quantum = Decimal(1).scaleb(-decimals)
    # Half-up, as readers round by hand; Python's round() would send 0.5 to 0.
    shown = (Decimal(str(num)) * 100 / Decimal(str(den))).quantize(quantum, rounding=ROUND_HALF_UP)
    if num > 0 and shown == 0:
        return ROUNDS_TO_ZERO
    return f"{shown:,.{decimals}f}" + ("%" if sign else "")


def add_totals(
    table: pd.DataFrame, *, row_totals: bool = True, column_totals: bool = True
) -> pd.DataFrame:
    """The table with a ``Total`` column (each row's sum) and/or a ``Total`` row."""
    out = table.copy()
    if row_totals:
        out[TOTAL] = table.sum(axis=1)
    if column_totals:
        out.loc[TOTAL] = out.sum(axis=0)
    return out


def primary_mask(values: np.ndarray) -> np.ndarray:
    """Cells holding a count from 1 to SUPPRESS_AT_MOST."""
    return (values >= 1) & (values <= SUPPRESS_AT_MOST)


def secondary_suppress(values: np.ndarray, mask: np.ndarray, lines: Sequence[Line]) -> np.ndarray:
    """Grow ``mask`` until no hidden cell can be worked out from the printed figures.

    Each line lists its cells with the total last (a cell sits in at most two lines: its row
    and its column). A reader knows every printed figure, that hidden counts are not zero and
    whether each is small (1 to SUPPRESS_AT_MOST) or not: more than the marks say, so that
    protection against this reader holds against any. A hidden cell is worked out when the
    printed totals and those bounds leave it one value: alone in a line, two small cells
    whose remainder is 2 (both 1), or a combination across rows and columns. While one is,
    the smallest visible non-zero cell of one of its lines is hidden too, an interior cell
    before a total since hiding a total loses more, and one that sets the cell free before
    one that does not. It ends because every pass hides one more cell.
    """
    mask = mask.copy()
    while True:
        _hide_lone_cells(values, mask, lines)
        determined = _determined(values, mask, lines)
        if not determined:
            return mask
        cell = determined[0]
        through = [line for line in lines if cell in line]
        candidates = {
            other: (position == len(line) - 1, values[other])
            for line in through
            for position, other in enumerate(line)
            if not mask[other] and values[other] != 0
        }
        if not candidates:
            # Nothing visible beside it: hide the smallest visible cell anywhere.
            visible = np.argwhere(~mask & (values != 0))
            candidates = {(int(i), int(j)): (True, values[i, j]) for i, j in visible}
        if not candidates:
            return mask  # everything non-zero is hidden

        # One that sets the cell free if there is one; an interior cell, the smallest.
        best = min(
            candidates,
            key=lambda c: (not _frees(values, mask, lines, cell, c), *candidates[c], c),
        )
        mask[best] = True


def _frees(
    values: np.ndarray,
    mask: np.ndarray,
    lines: Sequence[Line],
    cell: tuple[int, int],
    other: tuple[int, int],
) -> bool:
    """Whether hiding ``other`` too leaves ``cell`` no longer determined."""
    trial = mask.copy()
    trial[other] = True
    return cell not in _determined(values, trial, lines)


def _hide_lone_cells(values: np.ndarray, mask: np.ndarray, lines: Sequence[Line]) -> None:
    """While a line holds exactly one hidden cell (total minus the rest gives it away), hide
    the smallest visible non-zero cell in it too, an interior cell before the total."""
    changed = True
    while changed:
        changed = False
        for line in lines:
            hidden = [cell for cell in line if mask[cell]]
            if len(hidden) != 1:
                continue
            candidates = [
                (position == len(line) - 1, values[cell], position, cell)
                for position, cell in enumerate(line)
                if not mask[cell] and values[cell] > 0
            ]
            if not candidates:
                continue
            mask[min(candidates)[3]] = True
            changed = True


def _determined(
    values: np.ndarray, mask: np.ndarray, lines: Sequence[Line]
) -> list[tuple[int, int]]:
    """The hidden cells (in line order) whose values the printed figures fix.

    The figures a reader could substitute for the true ones differ from them by an integer
    change on the hidden cells that keeps every line's sum equal to its total. Taking a
    line's total with the opposite sign, the changes sum to zero along every line: a flow
    in which each line is a node (rows on one side, columns on the other; a cell in one
    line only joins it to a free node) and each hidden cell an edge. A cell can move by one
    exactly when the edge lies on a cycle of edges each with room to move one unit that way
    within its bounds (the matrix is a network matrix, so integer solutions suffice).
    """
    member: dict[tuple[int, int], list[tuple[int, bool]]] = {}
    for number, line in enumerate(lines):
        for position, (i, j) in enumerate(line):
            member.setdefault((i, j), []).append((number, position == len(line) - 1))
    side = _sides(lines, member)
    edges = [
        _edge(values[cell], cell, within, side) for cell, within in member.items() if mask[cell]
    ]
    # Where a unit of change can go next from each node: along an edge where it can rise,
    # against one where it can fall.
    arcs: dict[int, list[tuple[int, int]]] = {}
    for index, (_, tail, head, up, down) in enumerate(edges):
        if up:
            arcs.setdefault(tail, []).append((index, head))
        if down:
            arcs.setdefault(head, []).append((index, tail))
    fixed = []
    for index, (cell, tail, head, up, down) in enumerate(edges):
        rises = up and _reaches(arcs, head, tail, without=index)
        if not rises and not (down and _reaches(arcs, tail, head, without=index)):
            fixed.append(cell)
    return fixed


Edge = tuple[tuple[int, int], int, int, bool, bool]  # cell, tail, head, can rise, can fall
FREE = -1  # the node of cells in one line only


def _sides(
    lines: Sequence[Line], member: dict[tuple[int, int], list[tuple[int, bool]]]
) -> dict[int, int]:
    """Each line's side: 0 row-like, 1 column-like (lines sharing a cell are on opposite
    sides)."""
    side: dict[int, int] = {}
    for number in range(len(lines)):
        if number in side:
            continue
        side[number], stack = 0, [number]
        while stack:
            at = stack.pop()
            for i, j in lines[at]:
                for other, _ in member[(i, j)]:
                    if other not in side:
                        side[other] = 1 - side[at]
                        stack.append(other)
    return side


def _edge(
    value: float, cell: tuple[int, int], within: list[tuple[int, bool]], side: dict[int, int]
) -> Edge:
    """A hidden cell as an edge from its row-like line to its column-like one, with whether
    its change (taken against a line's total) can rise or fall by one within its bounds."""
    small = 1 <= value <= SUPPRESS_AT_MOST
    up = not small or value < SUPPRESS_AT_MOST
    down = value > (1 if small else SUPPRESS_AT_MOST + 1)
    # A total counts against its line: it moves the other way from the line's cells.
    if sum(is_total for _, is_total in within) == 1:
        up, down = down, up
    nodes = sorted(number for number, _ in within)
    nodes.sort(key=lambda n: side[n])
    if len(nodes) == 1:
        tail, head = (nodes[0], FREE) if side[nodes[0]] == 0 else (FREE, nodes[0])
    else:
        tail, head = nodes[0], nodes[1]
    return cell, tail, head, up, down


def _reaches(arcs: dict[int, list[tuple[int, int]]], start: int, goal: int, without: int) -> bool:
    """Whether a unit of change can travel from ``start`` to ``goal`` by ``arcs`` other than
    those of edge ``without``."""
    seen, stack = {start}, [start]
    while stack:
        at = stack.pop()
        if at == goal:
            return True
        for index, nxt in arcs.get(at, ()):
            if index != without and nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def suppress_counts(
    table: pd.DataFrame,
    with_totals: bool,
    *,
    row_totals: bool = True,
    column_totals: bool = True,
    hide: Iterable[tuple[object, object]] = (),
) -> pd.DataFrame:
    """A table of counts as the strings to print, with primary and secondary suppression.

    With ``with_totals`` the returned table gains the totals (``row_totals``: a ``Total``
    column; ``column_totals``: a ``Total`` row) and suppression makes sure no hidden cell can
    be worked out from them. Totals that are small themselves are hidden like any cell.
    Without totals only primary suppression applies, so use it only where no total of the
    same cells is printed anywhere else.

    ``hide`` names cells (row label, column label; totals are ``Total``) that another table
    already hides: printing them here would undo that table's protection.
    """
    counts = table.astype("float64").fillna(0)
    if with_totals:
        counts = add_totals(counts, row_totals=row_totals, column_totals=column_totals)
    values = counts.to_numpy()
    lines: list[Line] = []
    if with_totals:
        n_rows, n_cols = values.shape
        if row_totals:
            lines += [[(i, j) for j in range(n_cols)] for i in range(n_rows)]
        if column_totals:
            lines += [[(i, j) for i in range(n_rows)] for j in range(n_cols)]
    seed = primary_mask(values)
    for row, col in hide:
        i, j = counts.index.get_loc(row), counts.columns.get_loc(col)
        seed[i, j] = seed[i, j] or values[i, j] != 0
    mask = secondary_suppress(values, seed, lines)
    shown = np.where(mask, SUPPRESSED, np.vectorize(lambda v: f"{int(v):,}")(values))
    # Where the caller's table held a missing value, nothing applies; say so rather than 0.
    na = table.isna().reindex(index=counts.index, columns=counts.columns, fill_value=False)
    shown = np.where(na.to_numpy(dtype=bool), NOT_APPLICABLE, shown)
    return pd.DataFrame(shown, index=counts.index, columns=counts.columns, dtype=object)


def as_numbers(shown: pd.DataFrame) -> pd.DataFrame:
    """The counts a chart may draw from a ``suppress_counts`` table: NaN where hidden."""
    return shown.map(
        lambda s: np.nan if s in (SUPPRESSED, NOT_APPLICABLE) else int(s.replace(",", ""))
    )


def _missing(n: float | None) -> bool:
    return bool(pd.isna(n))


def format_share(
    shown_num: str,
    num: float | None,
    den: float | None,
    decimals: int = 0,
    *,
    shown_den: str = "",
) -> str:
    """A percentage whose numerator is printed elsewhere as ``shown_num`` (and its base, if
    printed, as ``shown_den``): hidden with either, since a share and one of them give the
    other away."""
    if SUPPRESSED in (shown_num, shown_den) and den:
        return SUPPRESSED
    return format_percent(num, den, decimals)


def hide_small(counts: pd.Series) -> pd.Series:
    """Counts for a chart that prints no totals of them: NaN (a gap) where a count is small."""
    return counts.map(lambda n: float("nan") if is_small(n) else n)


def format_rate(
    num: float | None, den: float | None, *, also: Iterable[float | None] = (), of: str = " of "
) -> str:
    """A percentage with its numerator and denominator, as ``42% (21 of 50)``.

    Hidden whole (``c``) whenever the percentage would be, or any count in ``also`` (one a
    reader could work out from these two and another printed figure) is small: a hidden
    percentage with a printed base would give its numerator back.
    """
    shown = format_percent(num, den)
    if shown in (SUPPRESSED, NOT_APPLICABLE) or any(is_small(n) for n in also):
        return SUPPRESSED if shown != NOT_APPLICABLE else shown
    return f"{shown} ({int(num or 0):,}{of}{int(den or 0):,})"


def rate_points(num: float | None, den: float | None) -> float | None:
    """The percentage a ``format_rate`` cell prints, as a number (None when not printed)."""
    shown = format_percent(num, den)
    return None if shown in (SUPPRESSED, NOT_APPLICABLE, ROUNDS_TO_ZERO) else float(shown[:-1])


def format_change(now: str, then: str, unit: str = "") -> str:
    """The change from one printed figure to another (``+12``, ``-3``, ``0``): hidden (``c``)
    when either is, so a change never gives back a hidden value; ``z`` with nothing to compare.
    Percentages change in points (``unit`` " pts")."""
    if SUPPRESSED in (now, then):
        return SUPPRESSED
    if NOT_APPLICABLE in (now, then) or ROUNDS_TO_ZERO in (now, then):
        return NOT_APPLICABLE
    a, b = (float(t.split(" ")[0].rstrip("%").replace(",", "")) for t in (now, then))
    change = int(a - b)
    return (f"{change:+,}" if change else "0") + unit


def merge_small(counts: pd.DataFrame, words: dict[str, str], label: str = "Other") -> pd.DataFrame:
    """A one-way table whose rows holding 1 to SUPPRESS_AT_MOST (in every column) are merged
    into one row named for them, ``Other (merged: A, B)``, when two or more are: a line per
    small category would print only ``c``. Zero rows stay, as zeros disclose no one."""
    small = [r for r in counts.index if counts.loc[r].map(is_small).all()]
    if len(small) < 2:
        return counts
    merged = f"{label} (merged: {', '.join(words.get(str(r), str(r)) for r in small)})"
    rest = counts.drop(index=small)
    return pd.concat([rest, counts.loc[small].sum().to_frame(merged).T])
