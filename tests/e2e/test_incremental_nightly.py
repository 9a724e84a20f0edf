"""The incremental build through the real nightly flow: a later night's files build
incrementally to the tables a full rebuild gives. (The build alone, on hand-made versions, is
tested in tests/sql/test_incremental.py.)"""

from __future__ import annotations

import re
from datetime import date

from conftest import curated_rows, tables_of


def test_a_later_nights_files_build_incrementally_to_the_same_curated_rows(
    prefect_harness, tmp_path
):
    from pipelines.cli.commands import run_nightly
    from pipelines.synth import generate

    raw, waiting = tmp_path / "raw", tmp_path / "waiting"
    generate(raw, seed=11, scale=0.2, until="2026-10")
    late = sorted(raw.glob("*/*2026-10-3[01]*")) + sorted(raw.glob("riverton/*2026_27*"))
    for path in late:  # the last two nights' extracts arrive on the second night
        (waiting / path.parent.name).mkdir(parents=True, exist_ok=True)
        path.rename(waiting / path.parent.name / path.name)
    paths = {
        "raw_dir": raw,
        "db": tmp_path / "curated.duckdb",
        "work_db": tmp_path / "work.duckdb",
        "as_of": date(2026, 11, 1),
        "validation_dir": tmp_path / "reports",
    }
    first = run_nightly(**paths)
    for path in late:
        (waiting / path.parent.name / path.name).rename(path)
    second = run_nightly(**paths)
    incremental = curated_rows(paths["db"])
    # Published without the copy of replaced rows the curated suite judged.
    assert {schema for schema, _ in tables_of(paths["db"])} == {"main"}
    third = run_nightly(**paths, full_rebuild=True)
    assert first.build.startswith("full build (no published database; ")
    # Four forces' last two nightlies, Riverton's 2026-27 Missing table, and the council's
    # case-management and CME extracts of the last night (pipelines.synth.council_files).
    assert second.files_new == len(late) == 11
    assert re.fullmatch(
        r"incremental build \(new versions since ingest_seq \d+; [1-9]\d* children rebuilt\)",
        second.build,
    )
    assert third.build.startswith("full build (full rebuild requested; ")
    full = curated_rows(paths["db"])
    # runs and linkage_quality differ (each run adds its rows); everything else must not.
    per_run = {"runs", "linkage_quality"}
    assert {t: rows for t, rows in incremental.items() if t not in per_run} == {
        t: rows for t, rows in full.items() if t not in per_run
    }
