"""Where a nightly's seconds go: its steps run one by one, each timed, in one process.

The nightly (pipelines.orchestration.nightly._nightly_steps) records no timings of its
own, so the benchmark calls the same plain functions (nightly.PLAIN's, without Prefect)
in the nightly's order, timing each step: on an empty working store (the full nightly),
then again on the same stores once the increment has arrived. Inside the ingest
and the linkage, the functions that make up each phase are wrapped (as benchmarks.linkage
does); the build times each model itself (pipelines.warehouse.build.Built.seconds). Phases
inside the ingest run on three threads (typing, checking, storing) that overlap, so their
seconds add up to more than the ingest's wall time: each is the time spent in it on its own
thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from benchmarks.linkage import _phases as linkage_phases
from benchmarks.linkage import _timed

# The ingest's phases: (module, function, label); each module global is looked up at call
# time, so wrapping it there times every call.
INGEST_PHASES = (
    ("pipelines.ingest.pipeline", "sha256_of", "hashing the file (sha256)"),
    ("pipelines.ingest.pipeline", "read_text_file", "read: CSV to Arrow text"),
    ("pipelines.ingest.pipeline", "split_identities", "read: identities split off"),
    ("pipelines.ingest.pipeline", "typed_run", "parse and type (typing thread)"),
    ("pipelines.ingest.pipeline", "ChildIds", "hashing: child ids (HMAC in DuckDB)"),
    ("pipelines.ingest.pipeline", "repeated_refs", "repeated references"),
    ("pipelines.ingest.pipeline", "check_run", "check a run (main thread, all of it)"),
    ("pipelines.quality.suites", "run_suite", "Great Expectations (run_suite)"),
    ("pipelines.ingest.pipeline", "police_batch", "batches: sort, quarantine, findings"),
    ("pipelines.ingest.pipeline", "_keep_identities", "identities kept (LatestRows)"),
    ("pipelines.ingest.writer.FileStore", "add", "storing: pieces (storing thread)"),
    ("pipelines.ingest.writer.FileStore", "finish", "storing: file transaction"),
)
# The nightly's steps in the flow's order, with the labels the table gives them.
STEPS = {
    "declarations": "read the declarations",
    "find": "find files (discover, ledger)",
    "run_record": "run records (start, counts)",
    "ingest": "ingest",
    "capture": "identity capture (identity store)",
    "linkage": "linkage (splink, persons, working store's output)",
    "left_aside": "files left aside",
    "build": "build the curated database",
    "curated_suite": "curated suite (SQL aggregates; GX only on a failing table)",
    "reconciliations": "reconciliations",
    "headline": "headline counts",
    "report": "validation report (HTML)",
    "publish": "record the run, publish (rename)",
}


# The linkage step's seconds outside link_records and the working store's output.
LINKAGE_REST = "the rest: opening and closing the identity store, the output's queries"


def _owner(dotted: str) -> Any:
    """A module, or a class inside one (`package.module.Class`)."""
    import importlib

    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError:
        module, _, name = dotted.rpartition(".")
        return getattr(importlib.import_module(module), name)


def child_profile(raw: str, stores: str, sources_dir: str, as_of: str) -> dict:
    """A nightly's steps on these stores (empty: the full nightly), each timed; the ingest's
    and the linkage's phases and the build's parts beside them."""
    from pipelines.identity.store import identity_db_for
    from pipelines.ingest.pseudonym import key_file
    from pipelines.orchestration import identities as ids
    from pipelines.orchestration import nightly
    from pipelines.orchestration.report import write_report
    from pipelines.orchestration.runs import finish_run, start_run
    from pipelines.quality import curated as checks
    from pipelines.quality.suites import load_gx
    from pipelines.warehouse import build as building

    load_gx()  # imported before the clock starts: the ingest of new files pays it once
    ingest: dict[str, float] = {}
    for owner, name, label in INGEST_PHASES:
        _timed(_owner(owner), name, ingest, label)
    linkage = linkage_phases()
    steps: dict[str, float] = {}

    @contextmanager
    def step(name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        steps[name] = round(steps.get(name, 0.0) + time.perf_counter() - start, 2)

    out, day = Path(stores), date.fromisoformat(as_of)
    work, db = out / "work.duckdb", out / "curated.duckdb"
    paths = nightly.Paths(
        Path(raw), Path(sources_dir), db, work, out / "reports", identity_db_for(work)
    )
    run_id = datetime.now().strftime("%Y%m%dT%H%M%S-profile")
    summary = nightly.RunSummary(run_id, "running", as_of, database=str(db))
    start = time.perf_counter()
    key_file()  # made here if missing, as the nightly's first step
    with step("declarations"):
        sources = nightly.load_declarations(paths.sources_dir)
    with step("find"):
        found = nightly.find_new_files(paths.raw_dir, sources, work, False, paths.identity_db)
    with step("run_record"):
        start_run(work, run_id, day)
    with step("ingest"):
        files, batch_suites, captured = nightly.ingest(found.pending, work, run_id)
    with step("capture"):
        ids.capture_identities(paths.identity_db, captured, run_id)
    del captured
    with step("linkage"):
        summary.linkage = ids.link_identities(paths.identity_db, work, run_id)
    timed = linkage.get("link_records (all)", 0.0) + linkage.get("working store's output", 0.0)
    linkage[LINKAGE_REST] = round(steps["linkage"] - timed, 2)
    with step("left_aside"):
        nightly._left_aside(paths)
    for f in files:
        summary.rows_read += f.rows_read
        summary.rows_loaded += f.rows_loaded
    summary.status = "published"
    with step("run_record"):
        finish_run(work, summary, final=False)
    with step("build"):
        result = nightly.build_database(work, db, sources, day, run_id, False)
    built, models = result.path, result.seconds  # each model's, timed by the build itself
    with step("curated_suite"):
        curated = checks.curated_suites(built, building.CURATED)
    with step("reconciliations"):
        identity_only = [name for name, s in sources.items() if s.is_identity_only]
        curated.append(checks.reconcile(built, work, identity_only))
    with step("headline"):
        summary.episodes, summary.children = checks.headline_counts(built)
    with step("report"):
        report = paths.validation_dir / f"{run_id}.html"
        write_report(report, run_id, "published", files, batch_suites + curated, "")
    with step("publish"):
        finish_run(built, summary, final=True, published_copy=True)
        nightly.publish_database(built, db)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "steps": steps, "ingest_phases": ingest,
            "linkage_phases": linkage, "models": models, "rows_read": summary.rows_read,
            "episodes": summary.episodes, "children": summary.children}  # fmt: skip


def markdown(profile: dict, floor: float, night: str = "full nightly") -> list[str]:
    """The profile of a night (the full nightly, or the increment) as tables: steps, the
    ingest's phases, the linkage's, the build's models and parts."""
    total = profile["seconds"]

    def rows(figures: dict[str, float], labels: dict[str, str] | None = None) -> list[str]:
        return [
            f"| {(labels or {}).get(name, name)} | {s:g} | {s / floor:.2f} | {s / total:.0%} |"
            for name, s in figures.items()
        ]

    head = ["| part | seconds | × floor | share of the run |", "|---|---:|---:|---:|"]
    return [
        f"Where the {night}'s {total:g} s went (its steps called one by one in one "
        f"process, without Prefect's engine; {profile['rows_read']:,} rows read, "
        f"{profile['episodes']:,} episodes, {profile['children']:,} children):",
        "",
        *head,
        *rows(profile["steps"], STEPS),
        "",
        "Inside the ingest (phases on three overlapping threads: their sum exceeds the step):",
        "",
        *head,
        *rows(profile["ingest_phases"]),
        "",
        "Inside the linkage:",
        "",
        *head,
        *rows(profile["linkage_phases"]),
        "",
        "Inside the build, each curated model's table (or, built incrementally, the copy "
        "of the published file and the rebuilt children's and persons' rows) and the "
        "checkpoint, slowest first (the rest is planning and views):",
        "",
        *head,
        *rows(dict(sorted(profile["models"].items(), key=lambda m: -m[1]))),
    ]
