"""The nightly and briefing flows, as Prefect runs them: each step of the nightly
(pipelines.orchestration.nightly, plain functions that tests call without Prefect) becomes a
task, with retries only where a retry can mend the failure (the disk, a network share).

From the shell with no Prefect server configured, `whereabouts nightly` runs the same steps as
plain calls (nightly.PLAIN) instead: a flow would first start a temporary Prefect API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import ParamSpec, TypeVar

from prefect import State, Task, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed

from pipelines import settings
from pipelines.errors import WhereaboutsError
from pipelines.orchestration import nightly as steps
from pipelines.orchestration.locking import AlreadyRunning
from pipelines.orchestration.nightly import RunSummary
from pipelines.orchestration.runs import KILLED

# Prefect's name for a flow run that published but left something to look at (the command's
# exit status 3): its state is Completed, named this, so the database is still the new one.
ATTENTION_STATE = "Attention"
# Tag on each nightly flow run naming its run id, so the next run can find it in Prefect.
RUN_TAG = "whereabouts-run:"

P = ParamSpec("P")
R = TypeVar("R")


def _can_mend(task: object, run: object, state: State) -> bool:
    """Retry only what a retry can mend: the disk or a network share, not bad data, and not
    a failure of the project's own (a missing raw folder, a wrong key), whose line says what
    to do."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, OSError) and not isinstance(exc, WhereaboutsError)


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


def _first(run_id: str, killed: list[str]) -> None:
    """Mark the flow runs of killed runs Crashed, then tag this one with its run id."""
    _crash_flow_runs(killed)
    _tag_flow_run(run_id)


def _log_bug(exc: BaseException) -> None:
    get_run_logger().error("the nightly run failed unexpectedly", exc_info=exc)


def _io_task(fn: Callable[P, R]) -> Task[P, R]:
    """A step that reads or writes files: retried where a retry can mend it."""
    return task(
        cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=_can_mend
    )(fn)


PREFECT_STEPS = steps.Steps(
    load_declarations=task(cache_policy=NO_CACHE)(steps.load_declarations),
    find_new_files=_io_task(steps.find_new_files),
    ingest=_io_task(steps.ingest),
    capture_identities=task(cache_policy=NO_CACHE)(steps.capture_identities),
    link_identities=task(cache_policy=NO_CACHE)(steps.link_identities),
    build_database=task(cache_policy=NO_CACHE)(steps.build_database),
    validate_database=task(cache_policy=NO_CACHE)(steps.validate_database),
    publish_database=task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)(
        steps.publish_database
    ),
    first=_first,
    log_bug=_log_bug,
)


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
    try:
        summary = steps.run(
            PREFECT_STEPS,
            raw_dir,
            sources_dir,
            db,
            work_db,
            as_of,
            validation_dir,
            full_rebuild,
            force,
            identity_db,
            truth,
        )
    except AlreadyRunning as exc:
        return Failed(message=str(exc))
    create_markdown_artifact(
        key="nightly-run-summary",
        markdown="```\n" + "\n".join(summary.lines()) + "\n```",
        description=f"Nightly run {summary.run_id}",
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
