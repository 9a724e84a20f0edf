"""The nightly and briefing flows. Each reads like a table of contents; the work is in
plain functions (ingest, build, checks, briefing) that tests call without Prefect."""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
from prefect import State, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from pipelines import settings
from pipelines.errors import WhereaboutsError
from pipelines.ingest.ledger import to_ingest
from pipelines.ingest.pipeline import FileResult, ingest_files
from pipelines.ingest.pseudonym import load_key
from pipelines.orchestration.locking import AlreadyRunning, run_lock
from pipelines.orchestration.report import write_report
from pipelines.orchestration.runs import finish_run, start_run
from pipelines.quality import curated as checks
from pipelines.quality.suites import SuiteResult
from pipelines.sources.declarations import Source, load_sources
from pipelines.sources.discovery import RawFile, discover
from pipelines.warehouse import build as building


@dataclass
class RunSummary:
    run_id: str
    status: str
    as_of: str
    files_seen: int = 0
    files_new: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_out_of_scope: int = 0
    episodes: int = 0
    children: int = 0
    seconds: float = 0.0
    database: str = ""
    build: str = ""
    report: str = ""
    message: str = ""
    undeclared_folders: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def lines(self) -> list[str]:
        return [
            f"run {self.run_id}: {self.status}" + (f" - {self.message}" if self.message else ""),
            f"  files: {self.files_new} new of {self.files_seen} seen",
            f"  rows: {self.rows_read} read, {self.rows_loaded} loaded, "
            f"{self.rows_quarantined} quarantined, {self.rows_out_of_scope} out of scope",
            f"  curated: {self.episodes} episodes, {self.children} children",
            f"  database: {self.database}",
            f"  build: {self.build}",
            f"  validation report: {self.report}",
            f"  seconds: {self.seconds:.1f}",
        ] + [
            f"  ignored folder {name}/ in the raw folder: no declaration schemas/sources/"
            f"{name}.yaml"
            for name in self.undeclared_folders
        ]


def _progress(done: int, total: int) -> None:
    # A terminal gets a live counter; a log file stays quiet.
    if sys.stderr.isatty():
        end = "\n" if done == total else ""
        print(f"\r  files ingested: {done}/{total}", end=end, file=sys.stderr, flush=True)


@task(cache_policy=NO_CACHE)
def load_declarations(sources_dir: Path) -> dict[str, Source]:
    """Read and check every source declaration."""
    return load_sources(sources_dir)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def find_new_files(
    raw_dir: Path, sources: dict[str, Source], work_db: Path
) -> tuple[list[RawFile], int, list[str]]:
    """List the raw files the working store has not yet ingested."""
    found, undeclared = discover(raw_dir, sources)
    from pipelines.ingest.working_store import open_work

    con = open_work(work_db)
    try:
        return to_ingest(con, found), len(found), undeclared
    finally:
        con.close()


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    # Retry only what a retry can mend: the disk or a network share, not bad data.
    retry_condition_fn=lambda task, run, state: isinstance(
        state.result(raise_on_failure=False), OSError
    ),
)
def ingest(
    files: list[RawFile], work_db: Path, run_id: str
) -> tuple[list[FileResult], list[SuiteResult]]:
    """Ingest each new file in arrival order, one transaction per file."""
    from pipelines.ingest.working_store import open_work

    key = load_key()
    con = open_work(work_db, memory_limit=settings.INGEST_DUCKDB_MEMORY_LIMIT)
    try:
        return ingest_files(con, files, key, run_id, _progress)
    finally:
        con.close()
        # Arrow's allocator keeps what the ingest freed for its own reuse; the build that
        # follows allocates through DuckDB, and the nightly's peak is in the build: handing
        # it back took the process from 750 to 550 MB before the build (measured).
        pa.default_memory_pool().release_unused()


@task(cache_policy=NO_CACHE)
def build_database(
    work_db: Path, db: Path, sources: dict[str, Source], as_of: date, run_id: str, full: bool
) -> building.Built:
    """Build every curated table into a new file beside the published one."""
    building.clear_abandoned(db)
    target = building.building_path(db, run_id)
    return building.build(work_db, target, sources, as_of, published=db, full=full)


@task(cache_policy=NO_CACHE)
def validate_database(built: Path, work_db: Path) -> list[SuiteResult]:
    """Run the curated suite and the reconciliations on the new file."""
    return checks.curated_suites(built, building.CURATED) + [checks.reconcile(built, work_db)]


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def publish_database(built: Path, db: Path) -> None:
    """Rename the new file over the published database."""
    building.publish(built, db)


def gate(files: list[FileResult], suites: list[SuiteResult]) -> str:
    """Empty when the run may publish; otherwise the one-line reason it may not."""
    for f in files:
        if f.status == "held":
            return f"file {f.file}: {f.message}"
    for suite in suites:
        for o in suite.outcomes:
            if not o.success and o.severity == "error":
                return (
                    f"curated suite {suite.suite}: rule {o.rule} on {o.column} failed "
                    f"({o.unexpected_count} rows)"
                )
    return ""


@flow(name="nightly", log_prints=False)
def nightly(
    raw_dir: Path = settings.RAW_DIR,
    sources_dir: Path = settings.SOURCES_DIR,
    db: Path = settings.CURATED_DB,
    work_db: Path = settings.WORK_DB,
    as_of: date | None = None,
    validation_dir: Path = settings.VALIDATION_DIR,
    full_rebuild: bool = False,
) -> RunSummary | State:
    """Ingest new files, classify, validate, build and publish the curated database."""
    as_of = as_of or date.today()
    run_id = datetime.now().strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
    summary = RunSummary(run_id, "running", as_of.isoformat(), database=str(db))
    try:
        with run_lock(work_db):
            start_run(work_db, run_id, as_of)
            try:
                _nightly_steps(
                    summary, raw_dir, sources_dir, db, work_db, as_of, validation_dir, full_rebuild
                )
            except Exception as exc:  # the run ends failed with one line, never half-published
                summary.status = "failed"
                summary.message = summary.message or f"{type(exc).__name__}: {exc}".splitlines()[0]
                if not isinstance(exc, WhereaboutsError):
                    # A bug: its traceback goes to stderr and the flow run's log in Prefect.
                    get_run_logger().error("the nightly run failed unexpectedly", exc_info=exc)
            finally:
                summary.seconds = time.monotonic() - summary.started
                finish_run(work_db, summary, final=True)
    except AlreadyRunning as exc:
        return Failed(message=str(exc))
    create_markdown_artifact(
        key="nightly-run-summary",
        markdown="```\n" + "\n".join(summary.lines()) + "\n```",
        description=f"Nightly run {run_id}",
    )
    if summary.status != "published":
        return Failed(message=summary.message)
    return summary


def _nightly_steps(
    summary: RunSummary,
    raw_dir: Path,
    sources_dir: Path,
    db: Path,
    work_db: Path,
    as_of: date,
    validation_dir: Path,
    full_rebuild: bool,
) -> None:
    sources = load_declarations(sources_dir)
    pending, summary.files_seen, summary.undeclared_folders = find_new_files(
        raw_dir, sources, work_db
    )
    files, batch_suites = ingest(pending, work_db, summary.run_id)
    summary.files_new = len(files)
    for f in files:
        summary.rows_read += f.rows_read
        summary.rows_loaded += f.rows_loaded
        summary.rows_quarantined += f.rows_quarantined
        summary.rows_out_of_scope += f.rows_out_of_scope
    # The published copy records this run as published: it only exists if it is.
    summary.status = "published"
    finish_run(work_db, summary, final=False)
    result = build_database(work_db, db, sources, as_of, summary.run_id, full_rebuild)
    built, summary.build = result.path, result.line()
    try:
        curated = validate_database(built, work_db)
        summary.message = gate(files, curated)
        suites = batch_suites + curated
        summary.episodes, summary.children = checks.headline_counts(built)
        summary.status = "failed" if summary.message else "published"
        report = validation_dir / f"{summary.run_id}.html"
        summary.report = str(
            write_report(report, summary.run_id, summary.status, files, suites, summary.message)
        )
        if summary.status == "published":
            summary.seconds = time.monotonic() - summary.started
            finish_run(built, summary, final=True, published_copy=True)
            publish_database(built, db)
    finally:
        built.unlink(missing_ok=True)


@flow(name="briefing", log_prints=False)
def briefing(
    month: str,
    db: Path = settings.CURATED_DB,
    out_dir: Path = settings.BRIEFINGS_DIR,
    allow_partial: bool = False,
) -> Path:
    """Write the monthly briefing PDF from the published database; a month not yet over
    only with ``allow_partial`` (marked provisional on every page)."""
    from pipelines.briefing import write_briefing

    return write_briefing(db, month, out_dir, allow_partial=allow_partial)
