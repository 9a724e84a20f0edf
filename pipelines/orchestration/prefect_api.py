"""A Prefect API on 127.0.0.1 for as long as a command needs one.

Prefect runs flows only against an API. With none configured, Prefect itself starts a
temporary server when the first flow starts, and waits for it: on 2 cores that wait (about
7 s) comes on top of the imports (about 9 s). Starting the same temporary server first, as a
plain subprocess, lets the two overlap. This module imports nothing from Prefect at load time,
so the server is on its way within the first two seconds of a run.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import ServiceUnavailable

# A first start creates and migrates Prefect's SQLite database: slow on 2 cores.
SERVER_START_SECONDS = 180.0
# Time the server gets to finish cleanly after SIGTERM before it is killed.
SERVER_STOP_SECONDS = 20.0
# What Prefect's own temporary server runs: the API alone, no UI, only the services a
# short-lived server needs (prefect.server.api.server.SubprocessASGIServer).
TEMPORARY_SERVER = ["-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
                    "--log-level", "error", "--lifespan", "on"]  # fmt: skip
TEMPORARY_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                 "PREFECT__SERVER_FINAL": "1"}  # fmt: skip
# The full server `whereabouts serve` keeps for its schedules: API, UI and every service.
FULL_SERVER = ["-m", "prefect", "server", "start"]


@dataclass
class LocalServer:
    url: str  # the API URL, for PREFECT_API_URL
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self) -> None:
        """Return once the API answers; raise if the server exits or never answers."""
        # Straight to 127.0.0.1: an http_proxy in the environment must not intercept it.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceUnavailable(
                    f"the Prefect server exited with {self.process.returncode}; see {self.log}"
                )
            try:
                with opener.open(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:  # not listening yet
                pass
            time.sleep(0.1)
        raise ServiceUnavailable(
            f"the Prefect server at {self.url} did not answer in time; see {self.log}"
        )


@contextmanager
def local_server(
    env: Mapping[str, str] | None = None,
    *,
    temporary: bool = False,
    wait: bool = True,
    port: int = 0,
) -> Iterator[LocalServer]:
    """Run a Prefect server on local `port` (0: a free one) until the block ends.

    `temporary` runs the API alone, as Prefect's own temporary server does; otherwise
    `prefect server start`. `env` defaults to this process's environment, which carries
    the project's Prefect settings (PREFECT_HOME inside the project, analytics off). With
    `wait=False` the block starts at once and calls `wait_ready()` itself.
    """
    server_env = dict(os.environ if env is None else env)
    server_env.pop("PREFECT_API_URL", None)  # it is the server, not a client of another
    if temporary:
        server_env |= TEMPORARY_ENV
    port = port or _free_port()
    # The UI asks the server where its API is; left alone it says port 4200 whatever the port.
    server_env["PREFECT_UI_API_URL"] = f"http://127.0.0.1:{port}/api"
    log = server_log(server_env)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        # Its own session: a Ctrl-C at the terminal reaches our process, which stops the
        # server in its own time (serve pauses the schedules first).
        process = subprocess.Popen(
            [sys.executable, *(TEMPORARY_SERVER if temporary else FULL_SERVER)]
            + ["--host", "127.0.0.1", "--port", str(port)],
            env=server_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    server = LocalServer(f"http://127.0.0.1:{port}/api", log, process)
    try:
        if wait:
            server.wait_ready()
        yield server
    finally:
        _stop(process)


@contextmanager
def api_for_flows(warm_up: Callable[[], object]) -> Iterator[bool]:
    """The API this process's flows use: the configured one, else a temporary local server
    started before `warm_up` (the imports) runs, so the two overlap. Yields whether it is
    this process's own temporary server (stopped when the block ends)."""
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    if get_current_settings().api.url:
        warm_up()
        yield False
        return
    with local_server(temporary=True, wait=False) as server:
        warm_up()
        server.wait_ready()
        with temporary_settings(updates={PREFECT_API_URL: server.url}):
            yield True


def configured_api(env: Mapping[str, str] = os.environ) -> str:
    """The Prefect API a flow would report to, read without importing Prefect: PREFECT_API_URL
    in the environment, else in the active profile of PREFECT_HOME/profiles.toml (where
    `prefect config set` writes it); empty when there is none."""
    if env.get("PREFECT_API_URL"):
        return env["PREFECT_API_URL"]
    home = Path(env.get("PREFECT_HOME") or Path.home() / ".prefect")
    try:
        profiles = tomllib.loads((home / "profiles.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return ""
    active = env.get("PREFECT_PROFILE") or profiles.get("active", "")
    return str(profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL", ""))


def server_log(env: Mapping[str, str] = os.environ) -> Path:
    home = env.get("PREFECT_HOME") or str(Path.home() / ".prefect")
    return Path(home) / "server.log"


def _die_with_parent() -> None:
    # Should our process be killed outright (SIGKILL, out of memory), the server follows it.
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def check_port_free(port: int) -> None:
    """Refuse, in one line, a local port another program is listening on."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise ServiceUnavailable(
                f"port {port} on 127.0.0.1 is in use (another serve or Prefect server?); "
                "stop it or choose another with --port"
            ) from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=SERVER_STOP_SECONDS)
    # Whatever is left of its process group, the server itself included if it hung.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
