"""The nightly run as plain functions: find the new files, ingest them, store their
identities, link, build, validate and publish.

`run` holds the run lock and records the run in `runs` from start to end; it is handed its
steps (`Steps`), so the same order runs as a Prefect flow (pipelines.orchestration.flows wraps
each step in a task) or, from the shell with no Prefect server to report to, as plain calls
(`PLAIN`), which start no temporary Prefect API and import no Prefect at all.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

from pipelines import settings
from pipelines.errors import WhereaboutsError
from pipelines.identity.store import identity_db_for
from pipelines.ingest.ledger import to_ingest
from pipelines.ingest.pipeline import FileResult, ingest_files
from pipelines.ingest.pseudonym import key_file
from pipelines.orchestration.identities import (
    Captured,
    capture_identities,
    link_identities,
    with_uncaptured,
)
from pipelines.orchestration.locking import run_lock
from pipelines.orchestration.report import write_report
from pipelines.orchestration.runs import KILLED, close_unfinished, finish_run, start_run
from pipelines.progress import counting
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
    # What an operator must look at even when the run published (the attention status):
    # files rejected or held back, and sources that delivered before but nothing this time.
    rejected: list[str] = field(default_factory=list)  # "<file>: <reason>"
    held: list[str] = field(default_factory=list)  # "<file>: <reason>"
    quiet_sources: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # e.g. a new key to back up
    linkage: list[str] = field(default_factory=list)  # the identity stage's counts
    started: float = field(default_factory=time.monotonic)

    @property
    def attention(self) -> list[str]:
        """The lines that give a published run the attention status (exit 3)."""
        return (
            [f"  rejected file {line}" for line in self.rejected]
            + [f"  held file {line}" for line in self.held]
            + [f"  no new files from {name}" for name in self.quiet_sources]
        )

    def lines(self) -> list[str]:
        return (
            [
                f"run {self.run_id}: {self.status}"
                + (f" - {self.message}" if self.message else ""),
                f"  files: {self.files_new} new of {self.files_seen} seen",
                f"  rows: {self.rows_read} read, {self.rows_loaded} loaded, "
                f"{self.rows_quarantined} quarantined, {self.rows_out_of_scope} out of scope",
                f"  curated: {self.episodes} episodes, {self.children} children",
                *(f"  {line}" for line in self.linkage),
                f"  database: {self.database}",
                f"  build: {self.build}",
                f"  validation report: {self.report}",
                f"  seconds: {self.seconds:.1f}",
            ]
            + [
                f"  ignored folder {name}/ in the raw folder: no declaration schemas/sources/"
                f"{name}.yaml"
                for name in self.undeclared_folders
            ]
            + self.attention
            + [f"  {notice}" for notice in self.notices]
        )


def load_declarations(sources_dir: Path) -> dict[str, Source]:
    """Read and check every source declaration."""
    return load_sources(sources_dir)


@dataclass
class Found:
    """What the raw folder holds against the working store's ledger."""

    pending: list[RawFile]  # new or changed files, to ingest
    seen: int  # complete files of declared sources
    undeclared: list[str]  # folders with no declaration
    quiet: list[str]  # sources with files ingested before and no new file now


def find_new_files(
    raw_dir: Path,
    sources: dict[str, Source],
    work_db: Path,
    force: bool = False,
    identity_db: Path | None = None,
) -> Found:
    """List the raw files the working store has not yet ingested; the store must be one the
    key made, of this raw folder (or `force`). With `identity_db`, files the working store
    loaded whose identities that store lacks are read again (pipelines.identity.capture)."""
    found, undeclared = discover(raw_dir, sources)
    from pipelines.ingest.working_store import claim_raw_dir, open_work

    con = open_work(work_db, key=key_file())
    try:
        claim_raw_dir(con, work_db, raw_dir, force)
        pending = to_ingest(con, found)
        if identity_db is not None:
            pending = with_uncaptured(con, identity_db, found, pending)
        rows = con.execute("select distinct source from ingest_files").fetchall()
        delivered = {row[0] for row in rows}
    finally:
        con.close()
    arriving = {f.source.name for f in pending}
    quiet = sorted(name for name in delivered - arriving if name in sources)
    return Found(pending, len(found), undeclared, quiet)


def ingest(
    files: list[RawFile], work_db: Path, run_id: str
) -> tuple[list[FileResult], list[SuiteResult], Captured]:
    """Ingest each new file in arrival order, one transaction per file; the identities read
    are handed back, for the identity store alone."""
    from pipelines.ingest.working_store import open_work

    # The key is read here, never passed through Prefect, which records what tasks are given.
    key = key_file()
    con = open_work(work_db, key=key, memory_limit=settings.INGEST_DUCKDB_MEMORY_LIMIT)
    captured = Captured()
    try:
        with counting("files ingested", len(files)) as bar:
            results, suites = ingest_files(
                con, files, key.key, run_id, lambda done, _: bar.reach(done), captured.tables
            )
        captured.files = [(r.file, r.sha256) for r in results if r.status == "loaded"]
        return results, suites, captured
    finally:
        con.close()
        # Arrow's allocator keeps what the ingest freed for its own reuse; the build that
        # follows allocates through DuckDB, and the nightly's peak is in the build: handing
        # it back took the process from 750 to 550 MB before the build (measured).
        pa.default_memory_pool().release_unused()


def build_database(
    work_db: Path, db: Path, sources: dict[str, Source], as_of: date, run_id: str, full: bool
) -> building.Built:
    """Build every curated table into a new file beside the published one."""
    building.clear_abandoned(db)
    target = building.building_path(db, run_id)
    return building.build(work_db, target, sources, as_of, published=db, full=full)


def validate_database(
    built: Path, work_db: Path, sources: dict[str, Source] | None = None
) -> list[SuiteResult]:
    """Run the curated suite and the reconciliations on the new file."""
    identity_only = [name for name, s in (sources or {}).items() if s.is_identity_only]
    return checks.curated_suites(built, building.CURATED) + [
        checks.reconcile(built, work_db, identity_only)
    ]


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


@dataclass(frozen=True)
class Paths:
    """Where a nightly run reads and writes."""

    raw_dir: Path
    sources_dir: Path
    db: Path
    work_db: Path
    validation_dir: Path
    identity_db: Path
    truth: Path | None = None  # synthetic data's truth file, for linkage precision and recall


def _nothing_first(run_id: str, killed: list[str]) -> None:
    """A plain run has no orchestrator to tell: the `runs` table is the record."""


def _log_bug(exc: BaseException) -> None:
    logging.getLogger("whereabouts").error("the nightly run failed unexpectedly", exc_info=exc)


@dataclass(frozen=True)
class Steps:
    """The nightly's steps, and what only an orchestrator adds: what it does first with the
    run id and the ids of runs a killed process left open, and where a bug's traceback goes."""

    load_declarations: Callable[[Path], dict[str, Source]]
    find_new_files: Callable[[Path, dict[str, Source], Path, bool, Path | None], Found]
    ingest: Callable[
        [list[RawFile], Path, str], tuple[list[FileResult], list[SuiteResult], Captured]
    ]
    capture_identities: Callable[[Path, Captured, str], int]
    link_identities: Callable[[Path, Path, str, Path | None], list[str]]
    build_database: Callable[[Path, Path, dict[str, Source], date, str, bool], building.Built]
    validate_database: Callable[[Path, Path, dict[str, Source] | None], list[SuiteResult]]
    publish_database: Callable[[Path, Path], None]
    first: Callable[[str, list[str]], None] = _nothing_first
    log_bug: Callable[[BaseException], None] = _log_bug


PLAIN = Steps(
    load_declarations,
    find_new_files,
    ingest,
    capture_identities,
    link_identities,
    build_database,
    validate_database,
    publish_database,
)


def run(
    steps: Steps,
    raw_dir: Path = settings.RAW_DIR,
    sources_dir: Path = settings.SOURCES_DIR,
    db: Path = settings.CURATED_DB,
    work_db: Path | None = None,
    as_of: date | None = None,
    validation_dir: Path = settings.VALIDATION_DIR,
    full_rebuild: bool = False,
    force: bool = False,
    identity_db: Path | None = None,
    truth: Path | None = None,
) -> RunSummary:
    """Run the nightly with `steps`; the summary says whether it published (`status`). Another
    run holding the lock raises AlreadyRunning. Defaults: see flows.nightly."""
    as_of = as_of or date.today()
    work = work_db or settings.work_db_for(db)
    paths = Paths(
        raw_dir, sources_dir, db, work, validation_dir, identity_db or identity_db_for(work), truth
    )
    run_id = datetime.now().strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
    summary = RunSummary(run_id, "running", as_of.isoformat(), database=str(db))
    with run_lock(paths.work_db, db, paths.identity_db):
        _record_run(steps, paths, summary, as_of, full_rebuild, force)
    return summary


def _record_run(
    steps: Steps, paths: Paths, summary: RunSummary, as_of: date, full_rebuild: bool, force: bool
) -> None:
    """Run the steps (the run lock held) with the run recorded in `runs` from start to end,
    after closing the history of runs whose process ended before they did."""
    killed = close_unfinished(paths.work_db, paths.db)
    steps.first(summary.run_id, killed)
    start_run(paths.work_db, summary.run_id, as_of)
    try:
        _nightly_steps(steps, summary, paths, as_of, full_rebuild, force)
    except Exception as exc:  # the run ends failed with one line, never half-published
        summary.status = "failed"
        if not summary.message:
            # A bug's own text may quote data, and `runs` is published: only its type is kept
            # there, the traceback is on stderr (and in the flow run's log under Prefect). The
            # system's own errors (a full
            # disk, a permission) name paths and causes an operator acts on.
            line = (
                str(exc)
                if isinstance(exc, WhereaboutsError)
                else f"{type(exc).__name__}: {exc}"
                if isinstance(exc, OSError)
                else f"{type(exc).__name__} (an unexpected failure: see its traceback in the log)"
            )
            summary.message = line.splitlines()[0] if line else type(exc).__name__
        if not isinstance(exc, WhereaboutsError):
            steps.log_bug(exc)
    except BaseException as exc:  # Ctrl-C, or a signal Prefect turned into an exception
        summary.status = "killed"
        summary.message = f"{KILLED} ({type(exc).__name__})"
        raise
    finally:
        summary.seconds = time.monotonic() - summary.started
        finish_run(paths.work_db, summary, final=True)


def _nightly_steps(
    steps: Steps, summary: RunSummary, paths: Paths, as_of: date, full_rebuild: bool, force: bool
) -> None:
    key = key_file()
    if key.created:
        summary.notices.append(
            f"new pseudonymisation key: {key.path} - back it up now (and keep it private): "
            "without it no child_id can be traced, and another key splits every child in two"
        )
    sources = steps.load_declarations(paths.sources_dir)
    found = steps.find_new_files(paths.raw_dir, sources, paths.work_db, force, paths.identity_db)
    summary.files_seen, summary.undeclared_folders = found.seen, found.undeclared
    summary.quiet_sources = found.quiet
    files, batch_suites, captured = steps.ingest(found.pending, paths.work_db, summary.run_id)
    steps.capture_identities(paths.identity_db, captured, summary.run_id)
    del captured  # identities go to the identity store and nowhere else
    # Before the build, so that the build gives every episode its person_id.
    summary.linkage = steps.link_identities(
        paths.identity_db, paths.work_db, summary.run_id, paths.truth
    )
    summary.files_new = len(files)
    for f in files:
        summary.rows_read += f.rows_read
        summary.rows_loaded += f.rows_loaded
        summary.rows_quarantined += f.rows_quarantined
        summary.rows_out_of_scope += f.rows_out_of_scope
    summary.rejected, summary.held = _left_aside(paths)
    # The published copy records this run as published: it only exists if it is.
    summary.status = "published"
    finish_run(paths.work_db, summary, final=False)
    result = steps.build_database(
        paths.work_db, paths.db, sources, as_of, summary.run_id, full_rebuild
    )
    built, summary.build = result.path, result.line()
    try:
        curated = steps.validate_database(built, paths.work_db, sources)
        summary.message = gate(files, curated)
        suites = batch_suites + curated
        summary.episodes, summary.children = checks.headline_counts(built)
        summary.status = "failed" if summary.message else "published"
        report = paths.validation_dir / f"{summary.run_id}.html"
        summary.report = str(
            write_report(report, summary.run_id, summary.status, files, suites, summary.message)
        )
        if summary.status == "published":
            summary.seconds = time.monotonic() - summary.started
            finish_run(built, summary, final=True, published_copy=True)
            steps.publish_database(built, paths.db)
    finally:
        built.unlink(missing_ok=True)


def _left_aside(paths: Paths) -> tuple[list[str], list[str]]:
    """Files of the raw folder the ledger has as rejected, and as held, with their reasons:
    this run's and earlier runs' alike, until their bytes change or they are removed."""
    from pipelines.ingest.working_store import open_work

    con = open_work(paths.work_db, key=key_file())
    try:
        rows = con.execute(
            "select file, status, message from ingest_files "
            "where status in ('rejected', 'held') order by ingest_seq"
        ).fetchall()
    finally:
        con.close()
    present = [(f, status, m) for f, status, m in rows if (paths.raw_dir / f).is_file()]
    return (
        [f"{f}: {m}" for f, status, m in present if status == "rejected"],
        [f"{f}: {m}" for f, status, m in present if status == "held"],
    )
