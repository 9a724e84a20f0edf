"""The nightly and briefing flows. Each reads like a table of contents; the work is in
plain functions (ingest, build, checks, briefing) that tests call without Prefect."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
from prefect import State, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed

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
from pipelines.orchestration.locking import AlreadyRunning, run_lock
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


@task(cache_policy=NO_CACHE)
def load_declarations(sources_dir: Path) -> dict[str, Source]:
    """Read and check every source declaration."""
    return load_sources(sources_dir)


def _can_mend(task: object, run: object, state: State) -> bool:
    """Retry only what a retry can mend: the disk or a network share, not bad data, and not
    a failure of the project's own (a missing raw folder, a wrong key), whose line says what
    to do."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, OSError) and not isinstance(exc, WhereaboutsError)


@dataclass
class Found:
    """What the raw folder holds against the working store's ledger."""

    pending: list[RawFile]  # new or changed files, to ingest
    seen: int  # complete files of declared sources
    undeclared: list[str]  # folders with no declaration
    quiet: list[str]  # sources with files ingested before and no new file now


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=_can_mend)
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


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=_can_mend)
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


@task(cache_policy=NO_CACHE)
def build_database(
    work_db: Path, db: Path, sources: dict[str, Source], as_of: date, run_id: str, full: bool
) -> building.Built:
    """Build every curated table into a new file beside the published one."""
    building.clear_abandoned(db)
    target = building.building_path(db, run_id)
    return building.build(work_db, target, sources, as_of, published=db, full=full)


@task(cache_policy=NO_CACHE)
def validate_database(
    built: Path, work_db: Path, sources: dict[str, Source] | None = None
) -> list[SuiteResult]:
    """Run the curated suite and the reconciliations on the new file."""
    identity_only = [name for name, s in (sources or {}).items() if s.is_identity_only]
    return checks.curated_suites(built, building.CURATED) + [
        checks.reconcile(built, work_db, identity_only)
    ]


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


# Prefect's name for a flow run that published but left something to look at (the command's
# exit status 3): its state is Completed, named this, so the database is still the new one.
ATTENTION_STATE = "Attention"
# Tag on each nightly flow run naming its run id, so the next run can find it in Prefect.
RUN_TAG = "whereabouts-run:"


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


@flow(name="nightly", log_prints=False)
def nightly(
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
) -> RunSummary | State:
    """Ingest new files, classify, validate, build and publish the curated database.

    `work_db` defaults to the published database's own working store
    (settings.work_db_for), and `identity_db` to the identity store beside the working store
    (identity.store.identity_db_for); `force` lets a working store ingest another raw folder.
    `truth` (synthetic data's truth file) adds linkage precision and recall to the run.
    """
    as_of = as_of or date.today()
    work = work_db or settings.work_db_for(db)
    paths = Paths(
        raw_dir, sources_dir, db, work, validation_dir, identity_db or identity_db_for(work), truth
    )
    run_id = datetime.now().strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
    summary = RunSummary(run_id, "running", as_of.isoformat(), database=str(db))
    try:
        with run_lock(paths.work_db, db, paths.identity_db):
            _record_run(paths, summary, as_of, full_rebuild, force)
    except AlreadyRunning as exc:
        return Failed(message=str(exc))
    create_markdown_artifact(
        key="nightly-run-summary",
        markdown="```\n" + "\n".join(summary.lines()) + "\n```",
        description=f"Nightly run {run_id}",
    )
    if summary.status != "published":
        return Failed(message=summary.message)
    if summary.attention:
        return Completed(
            name=ATTENTION_STATE,
            message="published; needs attention: "
            + "; ".join(a.strip() for a in summary.attention),
            data=summary,
        )
    return summary


def _record_run(
    paths: Paths, summary: RunSummary, as_of: date, full_rebuild: bool, force: bool
) -> None:
    """Run the steps (the run lock held) with the run recorded in `runs` from start to end,
    after closing the history of runs whose process ended before they did."""
    killed = close_unfinished(paths.work_db, paths.db)
    _crash_flow_runs(killed)
    _tag_flow_run(summary.run_id)
    start_run(paths.work_db, summary.run_id, as_of)
    try:
        _nightly_steps(summary, paths, as_of, full_rebuild, force)
    except Exception as exc:  # the run ends failed with one line, never half-published
        summary.status = "failed"
        if not summary.message:
            # A bug's own text may quote data, and `runs` is published: only its type is kept
            # there, the traceback is in the flow run's log. The system's own errors (a full
            # disk, a permission) name paths and causes an operator acts on.
            line = (
                str(exc)
                if isinstance(exc, WhereaboutsError)
                else f"{type(exc).__name__}: {exc}"
                if isinstance(exc, OSError)
                else f"{type(exc).__name__} (an unexpected failure: see the flow run's log)"
            )
            summary.message = line.splitlines()[0] if line else type(exc).__name__
        if not isinstance(exc, WhereaboutsError):
            # A bug: its traceback goes to stderr and the flow run's log in Prefect.
            get_run_logger().error("the nightly run failed unexpectedly", exc_info=exc)
    except BaseException as exc:  # Ctrl-C, or a signal Prefect turned into an exception
        summary.status = "killed"
        summary.message = f"{KILLED} ({type(exc).__name__})"
        raise
    finally:
        summary.seconds = time.monotonic() - summary.started
        finish_run(paths.work_db, summary, final=True)


def _crash_flow_runs(run_ids: list[str]) -> None:
    """Set the Prefect flow runs of killed runs, left Running or Pending, to Crashed."""
    if not run_ids:
        return
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    try:
        with get_client(sync_client=True) as client:
            left = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    tags=FlowRunFilterTags(any_=[RUN_TAG + run_id for run_id in run_ids]),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])
                    ),
                )
            )
            for flow_run in left:
                client.set_flow_run_state(flow_run.id, Crashed(message=KILLED), force=True)
    except Exception as exc:  # Prefect's history is a courtesy; the runs table is the record
        get_run_logger().warning("could not mark killed runs' flow runs Crashed: %s", exc)


def _tag_flow_run(run_id: str) -> None:
    """Tag this flow run with the run id, so the next run can find it should this one die."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    if not flow_run.id:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run.id, tags=[*flow_run.tags, RUN_TAG + run_id])
    except Exception as exc:
        get_run_logger().warning("could not tag the flow run with its run id: %s", exc)


def _nightly_steps(
    summary: RunSummary, paths: Paths, as_of: date, full_rebuild: bool, force: bool
) -> None:
    key = key_file()
    if key.created:
        summary.notices.append(
            f"new pseudonymisation key: {key.path} - back it up now (and keep it private): "
            "without it no child_id can be traced, and another key splits every child in two"
        )
    sources = load_declarations(paths.sources_dir)
    found = find_new_files(paths.raw_dir, sources, paths.work_db, force, paths.identity_db)
    summary.files_seen, summary.undeclared_folders = found.seen, found.undeclared
    summary.quiet_sources = found.quiet
    files, batch_suites, captured = ingest(found.pending, paths.work_db, summary.run_id)
    capture_identities(paths.identity_db, captured, summary.run_id)
    del captured  # identities go to the identity store and nowhere else
    # Before the build, so that the build gives every episode its person_id.
    summary.linkage = link_identities(paths.identity_db, paths.work_db, summary.run_id, paths.truth)
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
    result = build_database(paths.work_db, paths.db, sources, as_of, summary.run_id, full_rebuild)
    built, summary.build = result.path, result.line()
    try:
        curated = validate_database(built, paths.work_db, sources)
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
            publish_database(built, paths.db)
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
