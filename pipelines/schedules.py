"""The schedules `whereabouts serve` keeps: the nightly run at 02:30 and the briefing for the
previous month at 06:00 on the 1st, Europe/London, as Prefect deployments.

Prefect schedules nothing without a server: `serve` uses the one at PREFECT_API_URL, or
starts a private one on 127.0.0.1 for as long as it runs.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import NamedTuple
from zoneinfo import ZoneInfo

import prefect
from prefect import flow
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

from pipelines import settings
from pipelines.commands import previous_month
from pipelines.flows import briefing, nightly

# The partnership works to UK clock time; Prefect keeps 02:30 at 02:30 across BST changes.
TIMEZONE = "Europe/London"
NIGHTLY_CRON = "30 2 * * *"
BRIEFING_CRON = "0 6 1 * *"
# A first start creates and migrates Prefect's SQLite database: slow on 2 cores.
SERVER_START_SECONDS = 180.0
# Time the server gets to finish cleanly after SIGTERM before it is killed.
SERVER_STOP_SECONDS = 20.0


class LocalServer(NamedTuple):
    url: str  # the API URL, for PREFECT_API_URL
    pid: int
    log: Path


@flow(name="monthly-briefing", log_prints=False)
def monthly_briefing(
    db: Path = settings.CURATED_DB,
    out_dir: Path = settings.BRIEFINGS_DIR,
    month: str | None = None,
) -> Path:
    """The briefing for `month` (YYYY-MM), by default the month before today in London."""
    month = month or previous_month(datetime.now(ZoneInfo(TIMEZONE)).date())
    return briefing(month=month, db=db, out_dir=out_dir)


def deployments() -> list[RunnerDeployment]:
    """The two scheduled deployments, built without contacting any server."""
    # Module entrypoints: the runner imports the installed package, whatever the working folder.
    return [
        nightly.to_deployment(
            name="nightly",
            schedules=[Cron(NIGHTLY_CRON, timezone=TIMEZONE)],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
        monthly_briefing.to_deployment(
            name="monthly-briefing",
            schedules=[Cron(BRIEFING_CRON, timezone=TIMEZONE)],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
    ]


def serve() -> None:
    """Serve the deployments until interrupted (Ctrl-C or SIGTERM)."""
    if get_current_settings().api.url:
        prefect.serve(*deployments())
        return
    # Until Prefect's runner installs its own handler, SIGTERM must unwind through the
    # `finally` below, or the private server would outlive us.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with local_server() as server:
            print(
                f"Prefect server for the schedules: {server.url} "
                f"(pid {server.pid}, log {server.log})",
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


@contextmanager
def local_server(env: Mapping[str, str] | None = None) -> Iterator[LocalServer]:
    """Run `prefect server start` on a free local port until the block ends.

    `env` defaults to this process's environment, which carries the project's Prefect
    settings (PREFECT_HOME inside the project, analytics off).
    """
    server_env = dict(os.environ if env is None else env)
    server_env.pop("PREFECT_API_URL", None)  # it is the server, not a client of another
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = _server_log(server_env)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        # Its own session: a Ctrl-C at the terminal reaches serve, which pauses the
        # schedules on the server before stopping it, not both at once.
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start"]
            + ["--host", "127.0.0.1", "--port", str(port)],
            env=server_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    try:
        _wait_healthy(url, process, log)
        yield LocalServer(url, process.pid, log)
    finally:
        _stop(process)


def _die_with_parent() -> None:
    # Should serve be killed outright (SIGKILL, out of memory), the server follows it.
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _server_log(env: Mapping[str, str] = os.environ) -> Path:
    home = env.get("PREFECT_HOME") or str(Path.home() / ".prefect")
    return Path(home) / "server.log"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    # Straight to 127.0.0.1: an http_proxy in the environment must not intercept it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with {process.returncode}; see {log}")
        try:
            with opener.open(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the Prefect server at {url} did not answer in time; see {log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=SERVER_STOP_SECONDS)
    # Whatever is left of its process group, the server itself included if it hung.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
