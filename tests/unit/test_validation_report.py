"""The validation report says what became of each suite's rows, shows values as plain text,
and the index lists every run with a link."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from pipelines.ingest.prepared import FileResult
from pipelines.orchestration.report import plain, verdict, write_report
from pipelines.quality.suites import ExpectationOutcome, SuiteResult


def outcome(rule: str, severity: str, unexpected: int, examples: tuple = ()) -> ExpectationOutcome:
    return ExpectationOutcome(
        suite="s", rule=rule, severity=severity, column="c", expectation="expect_x",
        success=unexpected == 0, unexpected_count=unexpected, examples=examples,
    )  # fmt: skip


VERDICTS = {
    "passed": (False, [outcome("r1", "error", 0)], "passed"),
    "incoming_rows_quarantined": (
        True,
        [outcome("r1", "error", 3), outcome("r2", "error", 1), outcome("r3", "error", 0)],
        "rows quarantined, the run went on: 3 rows by rule r1, 1 rows by rule r2",
    ),
    "curated_error_fails_the_run": (
        False,
        [outcome("r1", "error", 2)],
        "FAILED the run: 2 rows by rule r1",
    ),
    "warnings_keep_rows": (
        False,
        [outcome("w1", "warning", 5)],
        "warnings, rows kept: 5 rows by rule w1",
    ),
    "quarantine_and_warning": (
        True,
        [outcome("r1", "error", 2), outcome("w1", "warning", 1)],
        "rows quarantined, the run went on: 2 rows by rule r1; "
        "warnings, rows kept: 1 rows by rule w1",
    ),
}


@pytest.mark.parametrize(("quarantines", "outcomes", "expected"), VERDICTS.values(), ids=VERDICTS)
def test_verdict(quarantines, outcomes, expected):
    suite = SuiteResult("s", True, tuple(outcomes), quarantines=quarantines)
    assert verdict(suite) == expected


def test_a_suite_of_the_rows_a_build_replaced_says_so():
    suite = SuiteResult("episodes", True, (outcome("r1", "error", 0),), replaced_rows=47068)
    assert verdict(suite) == (
        "passed (the 47,068 rows this build replaced; the rest passed when published)"
    )


PLAIN = {
    "numpy_datetime": (np.datetime64("2017-12-14T14:11:00.000000"), "2017-12-14 14:11"),
    "midnight": (np.datetime64("2017-12-14T00:00:00"), "2017-12-14 00:00"),
    "numpy_day": (np.datetime64("2017-12-14"), "2017-12-14"),
    "python_date": (dt.date(2020, 1, 2), "2020-01-02"),
    "numpy_integer": (np.int64(7), "7"),
    "pair": ((np.datetime64("2020-01-02"), "x"), "2020-01-02 / x"),
    "missing": (None, "(empty)"),
    "nan": (float("nan"), "(empty)"),
    "text": ("found_by_police", "found_by_police"),
}


@pytest.mark.parametrize(("value", "expected"), PLAIN.values(), ids=PLAIN)
def test_plain(value, expected):
    assert plain(value) == expected


def test_a_run_with_no_new_files_says_so_and_the_index_lists_every_run(tmp_path):
    files = [FileResult("a/x.csv", "0" * 64, "a", "loaded", 10, 8, 2, 0, "")]
    suites = [
        SuiteResult("incoming_episodes (10 rows of a/x.csv)", False,
                    (outcome("r1", "error", 2),), quarantines=True),
        SuiteResult("episodes", True, (outcome("r1", "error", 0),)),
    ]  # fmt: skip
    first = write_report(tmp_path / "20261201T023000-aaaaaa.html", "20261201T023000-aaaaaa",
                         "published", files, suites, "")  # fmt: skip
    page = first.read_text(encoding="utf-8")
    assert "<td>rows quarantined, the run went on: 2 rows by rule r1</td>" in page
    assert "FAILED" not in page
    second = write_report(tmp_path / "20261202T023000-bbbbbb.html", "20261202T023000-bbbbbb",
                          "published", [], [], "")  # fmt: skip
    assert "<p>No new files.</p>" in second.read_text(encoding="utf-8")

    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert index.index("20261202T023000-bbbbbb") < index.index("20261201T023000-aaaaaa")
    assert "<a href='20261201T023000-aaaaaa.html'>20261201T023000-aaaaaa</a>" in index
    assert "<td>no new files</td>" in index
    runs = json.loads((tmp_path / "index.json").read_text(encoding="utf-8"))
    assert [(r["run_id"], r["files"], r["rows_read"], r["rows_quarantined"]) for r in runs] == [
        ("20261202T023000-bbbbbb", 0, 0, 0),
        ("20261201T023000-aaaaaa", 1, 10, 2),
    ]
    assert "http" not in index and "http" not in page
    assert oct((tmp_path / "index.html").stat().st_mode & 0o777) == "0o640"
