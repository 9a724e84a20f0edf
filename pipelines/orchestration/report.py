"""The per-run validation report and the index of runs: self-contained HTML, fully offline.

No CDN, no remote fonts, images or scripts: everything is inline, so a page opens on an
air-gapped analyst's machine exactly as it does here. Each suite says in words what became of
the rows it judged: passed, rows quarantined (how many, by which rule; the run went on), or
the run failed. `index.html` beside the reports lists every run, newest first, with links.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

import numpy as np

from pipelines.db import SHARED_FILE_MODE, private_files, shared_folder
from pipelines.ingest.pipeline import FileResult
from pipelines.quality.suites import ExpectationOutcome, SuiteResult

STYLE = """
body{font-family:sans-serif;margin:2em;color:#111}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #999;padding:.25em .5em;text-align:left;font-size:.9em}
.fail{background:#e8e8e8;font-weight:bold}
"""
INDEX_PAGE = "index.html"
INDEX_DATA = "index.json"  # one entry per run, counts only: the index page is made from it


def plain(value: object) -> str:
    """A value as an operator reads it: dates and times in ISO form, pairs joined, no
    library's type names (`np.datetime64('2017-12-14T14:11:00.000000')` is 2017-12-14 14:11)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "(empty)"
    if isinstance(value, np.datetime64):
        day = np.datetime_data(value.dtype)[0] in ("Y", "M", "W", "D")
        value = value.astype("datetime64[D]" if day else "datetime64[s]").item()
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, (list, tuple)):
        return " / ".join(plain(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {plain(v)}" for k, v in value.items())
    return str(value)


def verdict(suite: SuiteResult) -> str:
    """What became of the suite's rows, in words."""
    unmet = [o for o in suite.outcomes if not o.success]
    errors = [o for o in unmet if o.severity == "error"]
    warnings = [o for o in unmet if o.severity != "error"]
    if errors and not suite.quarantines:
        return f"FAILED the run: {_by_rule(errors)}"
    said = []
    if errors:
        said.append(f"rows quarantined, the run went on: {_by_rule(errors)}")
    if warnings:
        said.append(f"warnings, rows kept: {_by_rule(warnings)}")
    if said:
        return "; ".join(said)
    if suite.replaced_rows is not None:
        return (
            f"passed (the {suite.replaced_rows:,} rows this build replaced; the rest passed "
            "when published)"
        )
    return "passed"


def _by_rule(outcomes: Iterable[ExpectationOutcome]) -> str:
    return ", ".join(f"{o.unexpected_count} rows by rule {o.rule}" for o in outcomes)


def _table(headers: list[str], rows: list[list], failing: list[bool] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="fail"' if failing and failing[i] else ""
        cells = "".join(f"<td>{_cell(v)}</td>" for v in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _cell(value: object) -> str:
    if isinstance(value, _Link):
        return f"<a href='{html.escape(value.href)}'>{html.escape(value.text)}</a>"
    return html.escape(plain(value))


class _Link:
    def __init__(self, text: str, href: str) -> None:
        self.text, self.href = text, href


def _files_part(files: list[FileResult]) -> list[str]:
    if not files:
        return ["<h2>Files ingested in this run</h2>", "<p>No new files.</p>"]
    return [
        "<h2>Files ingested in this run</h2>",
        _table(
            ["file", "status", "read", "loaded", "quarantined", "out of scope", "message"],
            [
                [f.file, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined,
                 f.rows_out_of_scope, f.message]
                for f in files
            ],
            [f.status in ("rejected", "held") for f in files],
        ),
    ]  # fmt: skip


def _suites_part(suites: list[SuiteResult]) -> list[str]:
    parts = [
        "<h2>Suites run</h2>",
        _table(
            ["suite", "expectations", "not met", "what became of the rows"],
            [
                [s.suite, len(s.outcomes), sum(not o.success for o in s.outcomes), verdict(s)]
                for s in suites
            ],
            [verdict(s).startswith("FAILED") for s in suites],
        ),
    ]
    for suite in suites:
        failed = sum(not o.success for o in suite.outcomes)
        parts.append(
            f"<h2>Suite {html.escape(suite.suite)}: "
            f"{len(suite.outcomes) - failed} of {len(suite.outcomes)} expectations met</h2>"
        )
        parts.append(
            _table(
                ["rule", "severity", "column", "expectation", "met", "unexpected", "examples"],
                [
                    [o.rule, o.severity, o.column, o.expectation, "yes" if o.success else "NO",
                     o.unexpected_count, "; ".join(plain(e) for e in o.examples)]
                    for o in suite.outcomes
                ],
                [not o.success for o in suite.outcomes],
            )
        )  # fmt: skip
    return parts


def _page(title: str, parts: list[str]) -> str:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )


def _write_shared(path: Path, text: str) -> None:
    # For operators and the analysts' group (0640): pages name files, rows, columns and
    # rules, never a value from a file. Written private, then opened to the group.
    shared_folder(path.parent)
    with private_files():
        path.write_text(text, encoding="utf-8")
    path.chmod(SHARED_FILE_MODE)


def write_report(
    path: Path,
    run_id: str,
    status: str,
    files: list[FileResult],
    suites: list[SuiteResult],
    message: str,
) -> Path:
    """Write the run's validation report, add the run to the folder's index; return its path."""
    parts = [
        f"<p><a href='{INDEX_PAGE}'>All runs</a></p>",
        f"<h1>Validation report: run {html.escape(run_id)}</h1>",
        f"<p>Status: <b>{html.escape(status)}</b>. {html.escape(message)}</p>",
        *_files_part(files),
        *_suites_part(suites),
    ]
    _write_shared(path, _page(f"Whereabouts validation {run_id}", parts))
    _add_to_index(path, run_id, status, files, message)
    return path


def _add_to_index(
    report: Path, run_id: str, status: str, files: list[FileResult], message: str
) -> None:
    """Record the run in index.json beside the report and write index.html from it."""
    data_path = report.parent / INDEX_DATA
    runs = json.loads(data_path.read_text(encoding="utf-8")) if data_path.exists() else []
    runs = [r for r in runs if r["run_id"] != run_id]
    runs.append(
        {
            "run_id": run_id,
            "status": status,
            "files": len(files),
            "rejected_or_held": sum(f.status in ("rejected", "held") for f in files),
            "rows_read": sum(f.rows_read for f in files),
            "rows_loaded": sum(f.rows_loaded for f in files),
            "rows_quarantined": sum(f.rows_quarantined for f in files),
            "message": message,
            "report": report.name,
        }
    )
    runs.sort(key=lambda r: r["run_id"], reverse=True)
    _write_shared(data_path, json.dumps(runs, indent=1) + "\n")
    rows = [
        [_Link(r["run_id"], r["report"]), r["status"],
         r["files"] or "no new files", r["rejected_or_held"], r["rows_read"],
         r["rows_loaded"], r["rows_quarantined"], r["message"]]
        for r in runs
    ]  # fmt: skip
    table = _table(
        ["run", "status", "new files", "rejected or held", "rows read", "loaded", "quarantined",
         "message"],
        rows,
        [r["status"] != "published" or r["rejected_or_held"] > 0 for r in runs],
    )  # fmt: skip
    _write_shared(
        report.parent / INDEX_PAGE,
        _page("Whereabouts validation runs", ["<h1>Validation runs, newest first</h1>", table]),
    )
