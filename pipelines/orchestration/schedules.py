"""The schedules `whereabouts serve` keeps (settings.NIGHTLY_CRON and BRIEFING_CRON: the nightly
run, and the briefing for the previous month on the 1st, London time) as Prefect deployments.

Prefect schedules nothing without a server: `serve` uses the one at PREFECT_API_URL, or
starts a private one on 127.0.0.1 for as long as it runs.
"""

from __future__ import annotations

import os
import signal
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import cast
from zoneinfo import ZoneInfo

import prefect
from prefect import flow
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

from pipelines import settings
from pipelines.briefing.months import previous_month
from pipelines.orchestration.flows import briefing, nightly
from pipelines.orchestration.prefect_api import check_port_free, local_server


@flow(name="monthly-briefing", log_prints=False)
def monthly_briefing(
    db: Path = settings.CURATED_DB,
    out_dir: Path = settings.BRIEFINGS_DIR,
    month: str | None = None,
) -> Path:
    """The briefing for `month` (YYYY-MM), by default the month before today in London."""
    month = month or previous_month(datetime.now(ZoneInfo(settings.SCHEDULE_TIMEZONE)).date())
    return briefing(month=month, db=db, out_dir=out_dir)


def deployments() -> list[RunnerDeployment]:
    """The two scheduled deployments, built without contacting any server."""
    # Module entrypoints: the runner imports the installed package, whatever the working folder.
    # to_deployment is sync-compatible: called outside an event loop it returns the deployment,
    # though its annotation also admits the coroutine it gives inside one.
    return [
        cast(
            RunnerDeployment,
            nightly.to_deployment(
                name="nightly",
                schedules=[Cron(settings.NIGHTLY_CRON, timezone=settings.SCHEDULE_TIMEZONE)],
                entrypoint_type=EntrypointType.MODULE_PATH,
            ),
        ),
        cast(
            RunnerDeployment,
            monthly_briefing.to_deployment(
                name="monthly-briefing",
                schedules=[Cron(settings.BRIEFING_CRON, timezone=settings.SCHEDULE_TIMEZONE)],
                entrypoint_type=EntrypointType.MODULE_PATH,
            ),
        ),
    ]


def serve(port: int = settings.SERVE_PORT) -> None:
    """Serve the deployments until interrupted (Ctrl-C or SIGTERM); with no Prefect API
    configured, on a private server at 127.0.0.1:`port` (0: a free port)."""
    if get_current_settings().api.url:
        prefect.serve(*deployments())
        return
    if port:
        check_port_free(port)
    # Until Prefect's runner installs its own handler, SIGTERM must unwind through the
    # `finally` below, or the private server would outlive us.
    previous = signal.getsignal(signal.SIGTERM)
    try:
        # Installed inside the `try`: a SIGTERM the moment after still ends here, cleanly.
        signal.signal(signal.SIGTERM, _interrupt)
        with local_server(port=port) as server:
            print(
                f"Prefect server for the schedules: {server.url} "
                f"(pid {server.pid}, log {server.log}); "
                f"UI at {server.url.removesuffix('/api')}",
                flush=True,
            )
            os.environ["PREFECT_API_URL"] = server.url  # for the flow runs it starts
            with temporary_settings(updates={PREFECT_API_URL: server.url}):
                prefect.serve(*deployments())
    except KeyboardInterrupt:  # stopped before Prefect's runner took over the signals
        pass
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
