"""Review: reviewers' decisions on pairs, and the queue exported as offline HTML pages.

Each queued pair gets one page (mode 0600, in a 0700 folder): the two records side by side
and a waterfall of splink's match weights drawn as inline SVG. No script, no style sheet and
no address outside the page: it opens on a machine with no network.
"""

from __future__ import annotations

import html
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.db import private_files
from pipelines.errors import NotFound, UsageError
from pipelines.identity.model import load_model
from pipelines.identity.records import RECORD_COLUMNS

DECISIONS = ("same", "different")
# Every column of a record but its id, which the pair's heading already names.
SHOWN = RECORD_COLUMNS[1:]


def decide(
    con: duckdb.DuckDBPyConnection,
    record_a: str,
    record_b: str,
    decision: str,
    by: str,
    now: datetime,
) -> None:
    """Record (or replace) a reviewer's decision on two records; later runs obey it."""
    if decision not in DECISIONS:
        raise UsageError(f"decision '{decision}': use same or different")
    if record_a == record_b:
        raise UsageError("a record is always the same as itself: give two record ids")
    a, b = sorted((record_a, record_b))
    known = con.execute(
        "select record_id from identity_records where record_id in (?, ?)", [a, b]
    ).fetchall()
    missing = sorted({a, b} - {r[0] for r in known})
    if missing:
        raise NotFound(f"no identity record {missing[0]}")
    con.execute(
        """
        insert or replace into link_decisions values (?, ?, ?, ?, ?)
        """,
        [a, b, decision, by, now],
    )
    con.execute("delete from review_queue where record_a = ? and record_b = ?", [a, b])


def _level_labels(model: dict[str, Any]) -> dict[str, dict[int, str]]:
    """Each comparison's level labels by splink's comparison vector value (null level -1,
    the others counted down to 0 in the order they are listed)."""
    labels: dict[str, dict[int, str]] = {}
    for comparison in model["comparisons"]:
        levels = comparison["comparison_levels"]
        scored = [lv for lv in levels if not lv.get("is_null_level")]
        named = {-1: "missing"}
        for index, level in enumerate(scored):
            named[len(scored) - 1 - index] = level.get("label_for_charts", "")
        labels[comparison["output_column_name"]] = named
    return labels


def waterfall_svg(steps: list[tuple[str, float]]) -> str:
    """A waterfall of match weights: each step a bar from the running total to the next,
    green for evidence for a link, red against; the last bar is the total."""
    width, row, left = 640, 26, 260
    totals = [0.0]
    for _, weight in steps:
        totals.append(totals[-1] + weight)
    low, high = min(totals + [0.0]), max(totals + [0.0])
    span = (high - low) or 1.0
    scale = (width - left - 20) / span

    def x(value: float) -> float:
        return left + (value - low) * scale

    parts = [
        f'<svg width="{width}" '
        f'height="{row * (len(steps) + 2)}" role="img" aria-label="match weight waterfall">',
        f'<line x1="{x(0):.1f}" y1="0" x2="{x(0):.1f}" y2="{row * (len(steps) + 1)}" '
        'stroke="#888" stroke-dasharray="3,3"/>',
    ]
    for i, ((label, weight), start) in enumerate(zip(steps, totals, strict=False)):
        end = start + weight
        colour = "#2e7d32" if weight >= 0 else "#c62828"
        x0, x1 = sorted((x(start), x(end)))
        y = i * row + 4
        parts.append(
            f'<text x="4" y="{y + 14}" font-size="12">{html.escape(label)}</text>'
            f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{row - 8}" '
            f'fill="{colour}"/>'
            f'<text x="{x1 + 4:.1f}" y="{y + 14}" font-size="11">{weight:+.2f}</text>'
        )
    y = len(steps) * row + 4
    total = totals[-1]
    x0, x1 = sorted((x(0), x(total)))
    parts.append(
        f'<text x="4" y="{y + 14}" font-size="12" font-weight="bold">final match weight</text>'
        f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{row - 8}" '
        f'fill="#1565c0"/><text x="{x1 + 4:.1f}" y="{y + 14}" font-size="11">{total:+.2f}</text>'
    )
    return "".join(parts) + "</svg>"


def pair_steps(
    model: dict[str, Any], weights: dict[str, Any], match_weight: float
) -> list[tuple[str, float]]:
    """The waterfall's steps: the prior, then each comparison's level and weight. The prior
    is what the run used (scaled to the store's size, model.model_for): the pair's match
    weight less its comparisons' weights."""
    labels = _level_labels(model)
    steps = []
    for name, value in weights.items():
        level = labels.get(name, {}).get(int(value["level"]), str(value["level"]))
        steps.append((f"{name}: {level}", float(value["weight"] or 0.0)))
    prior = match_weight - sum(weight for _, weight in steps)
    return [("prior (two random records)", prior), *steps]


def pair_page(
    records: list[dict[str, Any]], probability: float, steps: list[tuple[str, float]]
) -> str:
    """One queued pair as a self-contained HTML page."""
    head = "".join(f"<th>{html.escape(r['record_id'])}</th>" for r in records)
    body = "".join(
        f"<tr><th>{field}</th>"
        + "".join(f"<td>{html.escape(str(r.get(field) or ''))}</td>" for r in records)
        + "</tr>"
        for field in SHOWN
    )
    a, b = (r["record_id"] for r in records)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        f"<title>Review {html.escape(a)} / {html.escape(b)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;"
        "padding:4px 8px;text-align:left}table{border-collapse:collapse}</style></head><body>"
        "<h1>Are these one child?</h1>"
        f"<p>Match probability {probability:.4f}. Decide with "
        f"<code>whereabouts link decide {html.escape(a)} {html.escape(b)} "
        "same|different --by NAME</code>.</p>"
        f"<table><tr><th></th>{head}</tr>{body}</table>"
        "<h2>Match weights</h2>" + waterfall_svg(steps) + "</body></html>\n"
    )


def export_review(
    con: duckdb.DuckDBPyConnection, out: Path, model_path: Path | None = None
) -> list[Path]:
    """One page per queued pair in `out` (0700), each 0600; returns their paths."""
    model = load_model(model_path)
    queue = con.execute(
        "select record_a, record_b, match_probability, match_weight, weights from review_queue "
        "order by match_probability desc, record_a, record_b"
    ).fetchall()
    columns = ["record_id", *SHOWN]
    written = []
    with private_files():
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(out, 0o700)
        for a, b, probability, match_weight, weights in queue:
            rows = con.execute(
                f"select {', '.join(columns)} from identity_records "
                "where record_id in (?, ?) order by record_id",
                [a, b],
            ).fetchall()
            records = [dict(zip(columns, row, strict=True)) for row in rows]
            steps = pair_steps(model, json.loads(weights) if weights else {}, match_weight)
            path = out / f"review-{a}-{b}.html"
            path.write_text(pair_page(records, probability, steps), encoding="utf-8")
            os.chmod(path, 0o600)
            written.append(path)
    return written
