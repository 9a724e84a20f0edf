"""The per-run validation report: one self-contained HTML page, fully offline.

No CDN, no remote fonts, images or scripts: everything is inline, so it opens on an
air-gapped analyst's machine exactly as it does here.
"""

from __future__ import annotations

import html
from pathlib import Path

from pipelines.db import SHARED_FILE_MODE, private_files, shared_folder
from pipelines.ingest.pipeline import FileResult
from pipelines.quality.suites import SuiteResult

STYLE = """
body{font-family:sans-serif;margin:2em;color:#111}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #999;padding:.25em .5em;text-align:left;font-size:.9em}
.fail{background:#e8e8e8;font-weight:bold}
"""


def _table(headers: list[str], rows: list[list], failing: list[bool] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="fail"' if failing and failing[i] else ""
        cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def write_report(
    path: Path,
    run_id: str,
    status: str,
    files: list[FileResult],
    suites: list[SuiteResult],
    message: str,
) -> Path:
    """Write the run's validation report and return its path."""
    parts = [
        f"<h1>Validation report: run {html.escape(run_id)}</h1>",
        f"<p>Status: <b>{html.escape(status)}</b>. {html.escape(message)}</p>",
        "<h2>Files ingested in this run</h2>",
        _table(
            ["file", "status", "read", "loaded", "quarantined", "out of scope", "message"],
            [
                [
                    f.file,
                    f.status,
                    f.rows_read,
                    f.rows_loaded,
                    f.rows_quarantined,
                    f.rows_out_of_scope,
                    f.message,
                ]
                for f in files
            ],
            [f.status in ("rejected", "held") for f in files],
        ),
    ]
    parts.append("<h2>Suites run</h2>")
    parts.append(
        _table(
            ["suite", "expectations", "not met", "verdict"],
            [
                [s.suite, len(s.outcomes), sum(not o.success for o in s.outcomes),
                 "passed" if s.success else "FAILED"]
                for s in suites
            ],
            [not s.success for s in suites],
        )
    )  # fmt: skip
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
                    [
                        o.rule,
                        o.severity,
                        o.column,
                        o.expectation,
                        "yes" if o.success else "NO",
                        o.unexpected_count,
                        ", ".join(o.examples),
                    ]
                    for o in suite.outcomes
                ],
                [not o.success for o in suite.outcomes],
            )
        )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Whereabouts validation {html.escape(run_id)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    # For operators and the analysts' group (0640): it names files, rows, columns and
    # rules, never a value from a file. Written private, then opened to the group.
    shared_folder(path.parent)
    with private_files():
        path.write_text(page, encoding="utf-8")
    path.chmod(SHARED_FILE_MODE)
    return path
