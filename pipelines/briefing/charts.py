"""Drawing helpers for the briefing: page furniture, tables, line and bar charts, a heatmap.

Everything reads in greyscale (shades, hatches, markers and line styles, never colour alone),
and draws only numbers that have been through suppression: a hidden value arrives as NaN and
is drawn as a gap, or an empty bar marked ``c``. Each helper takes the figure and the
rectangle (left, bottom, width, height, in fractions of the page) it may draw in.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from pipelines.briefing.suppression import SUPPRESSED, TOTAL, as_numbers

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

Rect = tuple[float, float, float, float]

# Fixed fonts and no random ids: the same data must give the same bytes.
STYLE: dict[RcKeyType, Any] = {
    # The PDF's own Helvetica, which every reader has: nothing to embed. Subsetting and
    # embedding DejaVu Sans took half the briefing's time (CPU 4.7-5.6 s against 2.4 s for
    # the whole briefing, demo data, measured); the text still reads back as text.
    "pdf.use14corefonts": True,
    "font.family": "sans-serif",
    "font.sans-serif": ["Helvetica"],
    "font.weight": "medium",  # Helvetica's regular weight in its metrics file
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "hatch.linewidth": 0.6,
    "svg.hashsalt": "whereabouts",
}
MONTHS = "January February March April May June July August September October November December"
SHADES = ["0.15", "0.55", "0.8", "1.0"]
HATCHES = ["", "///", "...", "xx"]
MARKERS = ["o", "s", "^", "D"]
LINES = ["-", "--", "-.", ":"]
SYNTHETIC = "SYNTHETIC DATA"


def month_name(month: str, short: bool = False) -> str:
    """'2026-10' as 'October 2026', or 'Oct 26' for a crowded axis."""
    year, number = int(month[:4]), int(month[5:7])
    name = MONTHS.split()[number - 1]
    return f"{name[:3]} {year % 100:02d}" if short else f"{name} {year}"


def page(
    title: str,
    month: str,
    number: int,
    of: int,
    heading: str,
    banner: str = "",
    *,
    marking: str = "",
    synthetic: bool = False,
) -> Figure:
    """An A4 portrait page with the running header, the page heading and the footer. The
    protective ``marking`` heads and foots the page (centred, bold); ``SYNTHETIC DATA`` sits
    at the left of both when ``synthetic``; a ``banner`` (provisional figures) at the top
    right, in bold."""
    fig = Figure(figsize=(8.27, 11.69))
    for y, va in ((0.993, "top"), (0.008, "bottom")):
        if marking:
            fig.text(0.5, y, marking, fontsize=9, weight="bold", ha="center", va=va)
        if synthetic:
            fig.text(0.06, y, SYNTHETIC, fontsize=9, weight="bold", va=va)
    if banner:
        fig.text(0.94, 0.993, banner, fontsize=8, weight="bold", ha="right", va="top")
    fig.text(0.06, 0.975, title, fontsize=8, color="0.3", va="top")
    fig.text(0.94, 0.975, month, fontsize=8, color="0.3", ha="right", va="top")
    fig.text(0.06, 0.955, f"{number}. {heading}", fontsize=14, weight="bold", va="top")
    fig.text(0.94, 0.008, f"Whereabouts · page {number} of {of}", fontsize=7, ha="right")
    return fig


def note(fig: Figure, text: str, *, width: int = 150, bottom: float = 0.035) -> None:
    """Small print above the footer, wrapped to the page width."""
    for k, line in enumerate(reversed(textwrap.wrap(text, width))):
        fig.text(0.06, bottom + k * 0.011, line, fontsize=6.5, color="0.2")


def text_block(fig: Figure, rect: Rect, text: str, width: int = 110) -> None:
    """Paragraphs (separated by blank lines; the first line of each is its bold heading),
    wrapped at ``width`` characters, from the top of ``rect`` down."""
    ax = _Area(fig, rect)
    step = 8 * 1.45 / 72 / (rect[3] * fig.get_figheight())  # one 8-point line, in rect units
    # On baselines: a line placed by its top moves with its tallest glyph (a bracket or an
    # apostrophe), which spaced the lines of a paragraph unevenly.
    y = 1.0 - step * 0.75
    for paragraph in text.strip().split("\n\n"):
        heading, _, body = paragraph.strip().partition("\n")
        ax.text(0, y, heading, va="baseline", weight="bold")
        for line in textwrap.wrap(" ".join(body.split()), width):
            y -= step
            ax.text(0, y, line, va="baseline")
        y -= step * 1.5


def table(
    fig: Figure,
    rect: Rect,
    frame: pd.DataFrame,
    title: str | None = None,
    *,
    index_label: str = "",
    first: float = 0.34,
    size: float = 7.5,
) -> None:
    """Already-formatted strings as a table, drawn as text so that it extracts row by row.

    The index takes ``first`` of the width and is left-aligned; values are right-aligned;
    ``Total`` rows and columns are bold.
    """
    ax = _Area(fig, rect)
    if title:
        ax.title(title)
    header = [index_label, *map(str, frame.columns)]
    # A long row name (a merged category) wraps within its column rather than run into the
    # figures: Helvetica averages a little under half an em a character.
    fits = max(int(first * rect[2] * fig.get_figwidth() * 72 / (size * 0.42)), 12)
    rows = [header] + [
        [_fill(str(i), fits), *map(str, r)] for i, r in zip(frame.index, frame.values, strict=True)
    ]
    height, width = 1.0 / len(rows), (1 - first) / max(len(frame.columns), 1)
    for r, cells in enumerate(rows):
        y = 1 - (r + 0.5) * height
        for c, text in enumerate(cells):
            bold = r == 0 or cells[0] == TOTAL or header[c] == TOTAL
            x = 0.005 if c == 0 else first + width * c - 0.01
            ax.text(
                x,
                y,
                text,
                ha="left" if c == 0 else "right",
                va="center",
                fontsize=size,
                weight="bold" if bold else "medium",
            )
        if r == 0 or cells[0] == TOTAL:
            edge = 1 - (r + (1 if r == 0 else 0)) * height
            ax.rule(edge)


def line_chart(
    fig: Figure,
    rect: Rect,
    x: Sequence[str],
    series: Mapping[str, Sequence[float] | pd.Series],
    **labels: str,
) -> None:
    """One line per series over the months ``x``. A NaN (hidden) point has no marker: a
    dotted line bridges it so the trend does not break, and a ``c`` above the axis marks it."""
    ax = _axes(fig, rect, off=False, **labels)
    at = np.arange(len(x))
    for k, (name, values) in enumerate(series.items()):
        points = np.asarray(values, dtype=float)
        seen = ~np.isnan(points)
        if seen.sum() >= 2 and not seen.all():
            inner = (at > at[seen][0]) & (at < at[seen][-1])
            bridge = np.where(inner | seen, np.interp(at, at[seen], points[seen]), np.nan)
            ax.plot(at, bridge, color=SHADES[k % 3], linestyle=":", lw=1.0)
        for hidden in at[~seen]:
            ax.annotate(
                SUPPRESSED,
                (hidden, 0),
                xytext=(0, 2 + 7 * k),
                textcoords="offset points",
                ha="center",
                fontsize=6.5,
                color=SHADES[k % 3],
            )
        ax.plot(
            at,
            points,
            label=name,
            color=SHADES[k % 3],
            linestyle=LINES[k % 4],
            marker=MARKERS[k % 4],
            markersize=4,
            lw=1.4,
        )
    ax.set_xticks(at, list(x), rotation=45, ha="right")
    ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", color="0.9", lw=0.5)
    # Below the tick labels and axis label: a fixed distance on the page, whatever the height.
    below = -0.75 / (rect[3] * fig.get_figheight())
    ax.legend(loc="upper left", ncols=min(len(series), 4), bbox_to_anchor=(0, below))
    _empty(ax, np.asarray(list(series.values()), dtype=float))


def bar_chart(
    fig: Figure, rect: Rect, frame: pd.DataFrame, horizontal: bool = False, **labels: str
) -> None:
    """A bar per row of ``frame`` and column (grouped when several, with a legend).

    A NaN cell was hidden: no bar is drawn, and a ``c`` stands in its place.
    """
    ax = _axes(fig, rect, off=False, **labels)
    values = frame.to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    width, at = 0.8 / max(n_cols, 1), np.arange(n_rows)
    for k, column in enumerate(frame.columns):
        offsets = at - 0.4 + width * (k + 0.5)
        draw = ax.barh if horizontal else ax.bar
        draw(
            offsets,
            np.nan_to_num(values[:, k]),
            width * 0.9,
            color=SHADES[k % 4],
            hatch=HATCHES[k % 4],
            edgecolor="0.1",
            linewidth=0.6,
            label=str(column),
        )
        for o in offsets[np.isnan(values[:, k])]:
            xy, shift = ((0, o), (3, -3)) if horizontal else ((o, 0), (-2, 2))
            ax.annotate(SUPPRESSED, xy, xytext=shift, textcoords="offset points", fontsize=7)
    names = [_fill(str(i), 28) for i in frame.index]
    if horizontal:
        ax.set_yticks(at, names)
        ax.invert_yaxis()
    else:
        slant = max(map(len, names), default=0) > 8
        ax.set_xticks(at, names, rotation=30 if slant else 0, ha="right" if slant else "center")
    counts = ax.xaxis if horizontal else ax.yaxis
    counts.set_major_locator(MaxNLocator(integer=True))
    limits = ax.set_xlim if horizontal else ax.set_ylim
    limits(0, max((ax.get_xlim() if horizontal else ax.get_ylim())[1], 1))
    ax.grid(axis="x" if horizontal else "y", color="0.9", lw=0.5)
    ax.set_axisbelow(True)
    if n_cols > 1:
        ax.legend(loc="upper right")
    _empty(ax, values)


def heatmap(fig: Figure, rect: Rect, shown: pd.DataFrame, **labels: str) -> None:
    """A ``suppress_counts`` table with totals as a grid: counts in shades of grey with the
    number in each cell, a hidden cell hatched and marked ``c``, totals unshaded in bold."""
    ax = _axes(fig, rect, off=False, **labels)
    values = as_numbers(shown).to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    image = np.full(values.shape, np.nan)
    image[:-1, :-1] = values[:-1, :-1]
    top = max(float(np.nanmax(image)) if np.any(~np.isnan(image)) else 0.0, 1.0)
    ax.imshow(np.ma.masked_invalid(image), cmap="Greys", vmin=0, vmax=top * 1.15, aspect="auto")
    for i in range(n_rows):
        for j in range(n_cols):
            total, text = i == n_rows - 1 or j == n_cols - 1, str(shown.iat[i, j])
            if text == SUPPRESSED and not total:
                box = Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="////", lw=0, ec="0.6")
                ax.add_patch(box)
            dark = not total and image[i, j] > top * 0.55
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7.5,
                color="white" if dark else "black",
                weight="bold" if total else "medium",
            )
    ax.axhline(n_rows - 1.5, color="0.3", lw=0.8)
    ax.axvline(n_cols - 1.5, color="0.3", lw=0.8)
    ax.set_xticks(range(n_cols), [str(c) for c in shown.columns])
    ax.set_yticks(range(n_rows), [str(i) for i in shown.index])
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)


def _fill(text: str, width: int) -> str:
    """``text`` wrapped at ``width``, keeping the line breaks it already has."""
    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


class _Area:
    """A rectangle of the page to place text and rules in, in 0-1 units, without an Axes:
    tables and paragraphs need none, and making one costs more than drawing all its text."""

    def __init__(self, fig: Figure, rect: Rect) -> None:
        self.fig, self.rect = fig, rect

    def _at(self, x: float, y: float) -> tuple[float, float]:
        left, bottom, width, height = self.rect
        return left + x * width, bottom + y * height

    def text(self, x: float, y: float, text: str, **style: Any) -> None:
        self.fig.text(*self._at(x, y), text, **style)

    def rule(self, y: float) -> None:
        (x0, y0), (x1, _) = self._at(0, y), self._at(1, y)
        line = Line2D([x0, x1], [y0, y0], transform=self.fig.transFigure, color="0.4", lw=0.5)
        self.fig.add_artist(line)

    def title(self, text: str) -> None:
        """Bold, left, 6 points above the rectangle, as an Axes title would be."""
        x, y = self._at(0, 1)
        y += 6 / 72 / self.fig.get_figheight()
        self.fig.text(x, y, text, fontsize=9, weight="bold", va="baseline")


def _axes(fig: Figure, rect: Rect, *, off: bool = False, **labels: str) -> Axes:
    ax = fig.add_axes(rect)
    if off:
        # Text and rules placed in 0-1 units: keep the limits from following them.
        ax.set_axis_off()
        ax.set(xlim=(0, 1), ylim=(0, 1), autoscale_on=False)
    ax.set(**labels)
    return ax


def _empty(ax: Axes, values: np.ndarray) -> None:
    """Say why a chart has nothing in it, rather than leave bare axes."""
    if np.nansum(values) > 0:
        return
    why = "All counts hidden (c)" if np.isnan(values).any() else "No episodes to show"
    ax.text(0.5, 0.5, why, transform=ax.transAxes, ha="center", va="center", color="0.35")
