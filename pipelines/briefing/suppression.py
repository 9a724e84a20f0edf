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
    """Grow ``mask`` until no line (cells that add up to a total) holds exactly one hidden cell.

    Each line lists its cells with the total last. A line with one hidden cell gives it away
    (total minus the rest), so the smallest visible non-zero cell in that line is hidden too,
    an interior cell before the total since hiding the total loses more. Hiding a cell can
    expose another line, hence the loop; it ends because every pass hides one more cell.
    """
    mask = mask.copy()
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
    return mask


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


def format_share(shown_num: str, num: float | None, den: float | None, decimals: int = 0) -> str:
    """A percentage whose numerator is printed elsewhere as ``shown_num``: hidden with it."""
    if shown_num == SUPPRESSED and den:
        return SUPPRESSED
    return format_percent(num, den, decimals)


def hide_small(counts: pd.Series) -> pd.Series:
    """Counts for a chart that prints no totals of them: NaN (a gap) where a count is small."""
    return counts.map(lambda n: float("nan") if is_small(n) else n)
